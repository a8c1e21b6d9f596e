with

source as (

    select * from {{ ref('reporting_obligations') }}

),

renamed as (

    select
        unit_code as reporting_unit_code,
        indicator_code,
        periodicity,
        cast(first_year as integer) as first_year,
        cast(last_year as integer) as last_year,
        cast(due_days_after_period_end as integer) as due_days_after_period_end

    from source

)

select * from renamed
