with

source as (

    select * from {{ ref('worker_groups') }}

),

renamed as (

    select
        group_code as worker_group_code,
        name_zh,
        name_en,
        description,
        source as source_reference

    from source

)

select * from renamed
