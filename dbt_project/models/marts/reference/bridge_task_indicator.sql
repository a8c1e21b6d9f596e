with

task_indicators as (

    select * from {{ ref('stg_reference__task_indicators') }}

),

final as (

    select
        task_code,
        indicator_code

    from task_indicators

)

select * from final
