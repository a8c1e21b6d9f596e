-- Vocational training (职业技能培训) by year × region: person-times (人次 - one per worker, course
-- and start date), distinct persons trained (人数) and training hours, from the training records.
-- The year is the year the training started. Training records carry no region: a training is
-- placed in the region of the worker's record of the latest reference year (int_workers_deduplicated);
-- a training of a person without any worker record cannot be placed and is left out. A training
-- sent again in a later file counts once (the latest file's record). Rolled up to every ancestor
-- region through bridge_region_ancestor. Disclosure control: when 1 to k - 1 persons (var
-- stats_disclosure_k, default 5) stand behind a row, its counts and hours are null and
-- is_suppressed is true.
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

-- the files in sha256 order: the ranking below sorts by a file's place in it, an integer, instead of
-- its 64-character hash (the same order; 30 million hashes in the sort ran out of memory at province scale)
training_files as (

    select
        file_sha256,
        row_number() over (order by file_sha256) as file_order

    from (select distinct file_sha256 from trainings)

),

ranked_trainings as (

    select
        trainings.worker_pseudonym,
        trainings.course_name,
        trainings.start_date,
        trainings.hours,
        row_number() over (
            partition by trainings.worker_pseudonym, trainings.course_name, trainings.start_date
            order by trainings.received_at desc, training_files.file_order desc, trainings.source_row_number desc
        ) as record_rank

    from trainings
    inner join training_files
        on trainings.file_sha256 = training_files.file_sha256

),

latest_trainings as (

    select * from ranked_trainings
    where record_rank = 1

),

worker_regions as (

    select
        worker_pseudonym,
        arg_max(region_code, reference_year) as region_code

    from workers
    group by worker_pseudonym

),

placed as (

    select
        cast(year(latest_trainings.start_date) as integer) as year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        latest_trainings.worker_pseudonym,
        latest_trainings.hours

    from latest_trainings
    inner join worker_regions
        on latest_trainings.worker_pseudonym = worker_regions.worker_pseudonym
    inner join region_ancestors
        on worker_regions.region_code = region_ancestors.region_code

),

counted as (

    select
        year,
        region_code,
        region_level,
        count(*) as n_person_times,
        count(distinct worker_pseudonym) as n_persons,
        sum(hours) as total_hours

    from placed
    group by 1, 2, 3

),

screened as (

    select
        *,
        {{ reform_stats_is_small('n_persons') }} as is_suppressed

    from counted

),

final as (

    select
        md5(concat_ws('|', year, region_code)) as training_cell_id,
        year,
        region_code,
        region_level,
        cast({{ reform_stats_suppress('n_person_times', 'is_suppressed') }} as integer) as n_person_times,
        cast({{ reform_stats_suppress('n_persons', 'is_suppressed') }} as integer) as n_persons,
        cast({{ reform_stats_suppress('total_hours', 'is_suppressed') }} as double) as total_hours,
        is_suppressed

    from screened

)

select * from final
