with

source as (

    select * from {{ ref('tasks') }}

),

renamed as (

    select
        task_code,
        pillar_code,
        section,
        title_zh,
        title_en,
        source_document,
        source_section

    from source

)

select * from renamed
