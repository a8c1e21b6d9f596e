with

source as (

    select * from {{ ref('task_indicators') }}

),

renamed as (

    select
        task_code,
        indicator_code

    from source

)

select * from renamed
