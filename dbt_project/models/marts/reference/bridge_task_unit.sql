with

task_units as (

    select * from {{ ref('stg_reference__task_units') }}

),

final as (

    select
        task_code,
        reporting_unit_code,
        role

    from task_units

)

select * from final
