-- One row per enterprise and reference year (企业年度去重): a roster may be sent again, and the
-- enterprise counts once, with the record of the latest file (received_at, then file hash and row
-- number break ties). The reference year is the 统计年度 the roster states, else the Shanghai
-- calendar year of receipt (macro reform_stats_reference_year). The staff education fund
-- (职工教育经费) is classified here for the 60 % rule of the national opinion (十):
--   has_education_fund_data       the roster states both the fund and its frontline part
--   frontline_education_share_pct frontline part / fund × 100; null without both amounts or when the
--                                 fund is 0
--   is_frontline_share_60pct      frontline part >= 60 % of the fund, computed as part × 100 >= 60 ×
--                                 fund (exact for whole yuan); false when the fund is 0 (nothing is
--                                 spent on frontline workers); null without both amounts
-- A table: read by fct_enterprise_share.
-- In the national roll-up of a build sharded by province (macro reform_reads_shards) the records are
-- the provinces' own latest records, ranked again in the same order: an enterprise with records in two
-- provinces in one year counts once, with the latest of them.
{{ config(materialized='table') }}

{% if reform_reads_shards() %}

-- the national roll-up of a sharded build: the provinces' latest records, ranked again
{{ reform_latest_shard_records('int_enterprises_deduplicated', ['credit_code', 'reference_year']) }}

{% else %}

with

enterprises as (

    select * from {{ ref('stg_microdata__enterprises') }}

),

dated as (

    select
        *,
        {{ reform_stats_reference_year('received_at', 'reference_year') }} as statistics_year

    from enterprises

),

ranked as (

    select
        *,
        row_number() over (
            partition by credit_code, statistics_year
            order by {{ reform_latest_record_first() }}
        ) as record_rank

    from dated

),

final as (

    select
        statistics_year as reference_year,
        reference_year is not null as is_reference_year_stated,
        credit_code,
        region_code,
        industry_code,
        ownership_code,
        headcount,
        headcount >= 100 as is_100plus,
        has_union,
        has_collective_contract,
        payroll_yuan,
        education_fund_yuan,
        frontline_education_yuan,
        education_fund_yuan is not null and frontline_education_yuan is not null as has_education_fund_data,
        frontline_education_yuan / nullif(education_fund_yuan, 0) * 100 as frontline_education_share_pct,
        case
            when education_fund_yuan is not null and frontline_education_yuan is not null
                then education_fund_yuan > 0 and frontline_education_yuan * 100 >= 60 * education_fund_yuan
        end as is_frontline_share_60pct,
        received_at,
        file_sha256,
        source_row_number

    from ranked
    where record_rank = 1

)

select * from final

{% endif %}
