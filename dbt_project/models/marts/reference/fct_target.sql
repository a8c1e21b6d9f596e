-- One row per target stated in the source documents. A masked number (*, 0.*万) is not a number:
-- target_value stays null and status = 'masked'. Statements of the same target that disagree share a
-- conflict_group; both are kept.
with

targets as (

    select * from {{ ref('stg_reference__targets') }}

),

indicators as (

    select * from {{ ref('stg_reference__indicators') }}

),

final as (

    select
        targets.target_id,
        targets.indicator_code,
        targets.region_code,
        targets.comparator,
        targets.target_value,
        targets.target_value_high,
        targets.status,
        targets.value_text,
        targets.deadline_year,
        targets.recurrence,
        targets.baseline_value,
        targets.baseline_year,
        targets.source_document,
        targets.source_section,
        targets.source_quote,
        targets.is_conflicting,
        targets.conflict_group,
        targets.note,
        indicators.unit

    from targets
    left join indicators
        on targets.indicator_code = indicators.indicator_code

)

select * from final
