-- Shares of enterprises (企业覆盖率与合规率), the counts: one row per year × region × share, each a
-- ratio of counts of enterprises (int_enterprises_deduplicated) recomputed at every region of the
-- roll-up (bridge_region_ancestor) - never an average of percentages:
--   union_100plus                  百人以上企业工会组织覆盖率: enterprises with 100 or more employees
--                                  that have a trade union / those whose roster states whether
--                                  they have one × 100
--   collective_contract_100plus    百人以上企业集体合同覆盖率: enterprises with 100 or more employees
--                                  that signed a collective contract / those whose roster states it
--   education_fund_frontline_60pct 职工教育经费60%以上用于一线职工的企业比例 (national opinion (十),
--                                  fct_target nat-10-01): enterprises spending at least 60 % of
--                                  their staff education fund on frontline workers
--                                  (is_frontline_share_60pct; a fund of 0 does not meet it) /
--                                  enterprises whose roster states both the fund and its frontline
--                                  part. data_status is 'not_collected' (numerator and share null,
--                                  denominator 0 - not a zero) where no roster of the year and region
--                                  states them.
-- An enterprise whose roster leaves what a share needs blank is left out of its denominator and
-- counted in not_reported_count (for the two 100+ shares: 100+ enterprises only).
-- The true counts; int_statistics_cells_audited decides what fct_enterprise_share withholds.
{{ config(materialized='table') }}

with

enterprises as (

    select * from {{ ref('int_enterprises_deduplicated') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

region_counts as (

    select
        enterprises.reference_year as year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        count(*) filter (where enterprises.is_100plus and enterprises.has_union) as n_union,
        count(*) filter (where enterprises.is_100plus and enterprises.has_union is not null) as n_union_stated,
        count(*) filter (where enterprises.is_100plus and enterprises.has_collective_contract) as n_contract,
        count(*) filter (where enterprises.is_100plus and enterprises.has_collective_contract is not null)
            as n_contract_stated,
        count(*) filter (where enterprises.is_100plus) as n_100plus,
        count(*) filter (where enterprises.is_frontline_share_60pct) as n_fund_60pct,
        count(*) filter (where enterprises.has_education_fund_data) as n_fund_stated,
        count(*) as n_enterprises

    from enterprises
    inner join region_ancestors
        on enterprises.region_code = region_ancestors.region_code
    group by 1, 2, 3

),

shares as (

    select
        year,
        region_code,
        region_level,
        'union_100plus' as share_code,
        '百人以上企业工会组织覆盖率' as share_name_zh,
        n_union as numerator_count,
        n_union_stated as denominator_count,
        n_100plus - n_union_stated as not_reported_count,
        'collected' as data_status

    from region_counts

    union all

    select
        year,
        region_code,
        region_level,
        'collective_contract_100plus' as share_code,
        '百人以上企业集体合同覆盖率' as share_name_zh,
        n_contract as numerator_count,
        n_contract_stated as denominator_count,
        n_100plus - n_contract_stated as not_reported_count,
        'collected' as data_status

    from region_counts

    union all

    -- all enterprises, not only those of 100+; not collected where no roster states the amounts
    select
        year,
        region_code,
        region_level,
        'education_fund_frontline_60pct' as share_code,
        '职工教育经费60%以上用于一线职工的企业比例' as share_name_zh,
        case when n_fund_stated > 0 then n_fund_60pct end as numerator_count,
        n_fund_stated as denominator_count,
        n_enterprises - n_fund_stated as not_reported_count,
        case when n_fund_stated > 0 then 'collected' else 'not_collected' end as data_status

    from region_counts

),

final as (

    select
        md5(concat_ws('|', year, region_code, share_code)) as cell_id,
        *

    from shares

)

select * from final
