with

source as (

    select * from {{ ref('targets') }}

),

renamed as (

    select
        target_id,
        indicator_code,
        cast(region_code as varchar) as region_code,
        comparator,
        cast(target_value as double) as target_value,
        cast(target_value_high as double) as target_value_high,
        status,
        value_text,
        cast(deadline_year as integer) as deadline_year,
        nullif(recurrence, '') as recurrence,
        cast(baseline_value as double) as baseline_value,
        cast(baseline_year as integer) as baseline_year,
        source_document,
        source_section,
        source_quote,
        cast(is_conflicting as boolean) as is_conflicting,
        nullif(conflict_group, '') as conflict_group,
        nullif(note, '') as note

    from source

)

select * from renamed
