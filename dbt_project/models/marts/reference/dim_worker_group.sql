with

worker_groups as (

    select * from {{ ref('stg_reference__worker_groups') }}

),

final as (

    select
        worker_group_code,
        name_zh,
        name_en,
        description,
        source_reference

    from worker_groups

)

select * from final
