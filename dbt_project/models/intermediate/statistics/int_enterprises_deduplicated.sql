-- One row per enterprise and reference year (企业年度去重): a roster may be sent again, and the
-- enterprise counts once, with the record of the latest file (received_at, then file hash and row
-- number break ties). The reference year is the Shanghai calendar year of receipt (macro
-- reform_stats_reference_year): enterprise rosters carry no 统计年度 column. A table: read by
-- fct_enterprise_share.
{{ config(materialized='table') }}

with

enterprises as (

    select * from {{ ref('stg_microdata__enterprises') }}

),

dated as (

    select
        *,
        {{ reform_stats_reference_year('received_at') }} as reference_year

    from enterprises

),

ranked as (

    select
        *,
        row_number() over (
            partition by credit_code, reference_year
            order by received_at desc, file_sha256 desc, source_row_number desc
        ) as record_rank

    from dated

),

final as (

    select
        reference_year,
        credit_code,
        region_code,
        industry_code,
        ownership_code,
        headcount,
        headcount >= 100 as is_100plus,
        has_union,
        has_collective_contract,
        received_at,
        file_sha256

    from ranked
    where record_rank = 1

)

select * from final
