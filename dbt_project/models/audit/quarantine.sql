with

quarantine as (

    select * from {{ ref('stg_lake__quarantine') }}

),

final as (

    select
        file_sha256,
        file_name,
        source_sheet,
        source_row_number,
        raw_values,
        reason_code,
        message,
        quarantined_at

    from quarantine

)

select * from final
