-- Vocational training (职业技能培训) by year × region: person-times (人次 - one per worker, course
-- and start date), distinct persons trained (人数) and training hours, counted in
-- int_trainings_counted (the year the training started; the region of the worker's latest record;
-- rolled up to every ancestor region). Disclosure control (int_statistics_cells_audited): when 1 to
-- k - 1 persons (var stats_disclosure_k, default 5) stand behind a row, its counts and hours are null
-- and is_suppressed is true, and so are the rows withheld so that no small row can be worked out
-- from a parent region's published row minus its other children's.
with

counted as (

    select * from {{ ref('int_trainings_counted') }}

),

audited as (

    select * from {{ ref('int_statistics_cells_audited') }}
    where table_name = 'trainings'

),

screened as (

    select
        counted.*,
        audited.is_suppressed

    from counted
    inner join audited
        on counted.cell_id = audited.cell_id

),

final as (

    select
        cell_id as training_cell_id,
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
