-- Who must report which indicator, how often, for which years and how soon after the period ends.
with

obligations as (

    select * from {{ ref('stg_reference__reporting_obligations') }}

),

final as (

    select
        reporting_unit_code,
        indicator_code,
        periodicity,
        first_year,
        last_year,
        due_days_after_period_end

    from obligations

)

select * from final
