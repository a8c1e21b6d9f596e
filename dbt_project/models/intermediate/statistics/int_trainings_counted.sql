-- Vocational training (职业技能培训) by year × region, the true counts: person-times (人次 - one per
-- worker, course and start date), distinct persons trained (人数) and training hours, from the
-- training records. The year is the year the training started. Training records carry no region: a
-- training is placed in the region of the worker's record of the latest reference year
-- (int_workers_deduplicated); a training of a person without any worker record cannot be placed and
-- is left out. A training sent again in a later file counts once (the latest file's record). Rolled
-- up to every ancestor region through bridge_region_ancestor. Not suppressed here:
-- int_statistics_cells_audited decides what fct_training_person_times withholds.
{{ config(materialized='table') }}

with

trainings as (

    select * from {{ ref('stg_microdata__trainings') }}

),

workers as (

    select * from {{ ref('int_workers_deduplicated') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

latest_trainings as (

    {{ reform_latest_records('trainings', ['worker_pseudonym', 'course_name', 'start_date']) }}

),

worker_regions as (

    {{ reform_stats_worker_regions('workers') }}

),

-- counted in the region each worker is placed in: a worker has one region, so the counts of a
-- region's descendants add up to its own, distinct persons included (30 million trainings are
-- counted once, not once per ancestor level)
counted_by_region as (

    select
        cast(year(latest_trainings.start_date) as integer) as year,
        worker_regions.region_code,
        count(*) as n_person_times,
        count(distinct latest_trainings.worker_pseudonym) as n_persons,
        sum(latest_trainings.hours) as total_hours

    from latest_trainings
    inner join worker_regions
        on latest_trainings.worker_pseudonym = worker_regions.worker_pseudonym
    group by 1, 2

),

counted as (

    select
        counted_by_region.year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        sum(counted_by_region.n_person_times) as n_person_times,
        sum(counted_by_region.n_persons) as n_persons,
        sum(counted_by_region.total_hours) as total_hours

    from counted_by_region
    inner join region_ancestors
        on counted_by_region.region_code = region_ancestors.region_code
    group by 1, 2, 3

),

final as (

    select
        md5(concat_ws('|', year, region_code)) as cell_id,
        *

    from counted

)

select * from final
