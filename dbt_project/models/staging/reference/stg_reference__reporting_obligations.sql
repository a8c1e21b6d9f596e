-- The obligations the documents set (seed) and the registered units' ones (`reform register`).
with

documents as (

    select * from {{ ref('reporting_obligations') }}

),

registered as (

    select * from {{ source('lake', 'register_obligations') }}

),

renamed as (

    select
        unit_code as reporting_unit_code,
        indicator_code,
        periodicity,
        cast(first_year as integer) as first_year,
        cast(last_year as integer) as last_year,
        cast(due_days_after_period_end as integer) as due_days_after_period_end

    from documents

    union all

    select
        unit_code as reporting_unit_code,
        indicator_code,
        periodicity,
        cast(first_year as integer) as first_year,
        cast(last_year as integer) as last_year,
        cast(due_days_after_period_end as integer) as due_days_after_period_end

    from registered

)

select * from renamed
