-- The measures of the Lijiang plan with their lead unit (牵头单位) taken from bridge_task_unit. A task
-- has exactly one lead (tested on the bridge); a task without one keeps a null lead_unit_code, which
-- the not_null test reports.
with

tasks as (

    select * from {{ ref('stg_reference__tasks') }}

),

task_units as (

    select * from {{ ref('bridge_task_unit') }}

),

lead_units as (

    select
        task_code,
        reporting_unit_code as lead_unit_code

    from task_units
    where role = 'lead'

),

final as (

    select
        tasks.task_code,
        tasks.pillar_code,
        tasks.section,
        tasks.title_zh,
        tasks.title_en,
        tasks.source_document,
        tasks.source_section,
        lead_units.lead_unit_code

    from tasks
    left join lead_units
        on tasks.task_code = lead_units.task_code

)

select * from final
