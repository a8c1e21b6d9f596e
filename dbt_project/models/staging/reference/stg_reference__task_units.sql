with

source as (

    select * from {{ ref('task_units') }}

),

renamed as (

    select
        task_code,
        unit_code as reporting_unit_code,
        role

    from source

)

select * from renamed
