-- Shares of enterprises (企业覆盖率与合规率), one row per year × region × share, each a ratio of
-- counts of enterprises (int_enterprises_deduplicated) recomputed at every region of the roll-up
-- (bridge_region_ancestor) - never an average of percentages:
--   union_100plus                  百人以上企业工会组织覆盖率: enterprises with 100 or more employees
--                                  that have a trade union / those whose roster states whether
--                                  they have one × 100
--   collective_contract_100plus    百人以上企业集体合同覆盖率: enterprises with 100 or more employees
--                                  that signed a collective contract / those whose roster states it
--   education_fund_frontline_60pct 职工教育经费60%以上用于一线职工的企业比例 (national opinion (十),
--                                  fct_target nat-10-01): enterprises spending at least 60 % of
--                                  their staff education funds on frontline workers / enterprises
--                                  reporting both amounts. The enterprise rosters carry neither
--                                  amount, so the denominator is 0, the share null and data_status
--                                  'not_collected' - it is not a zero.
-- An enterprise whose roster leaves the flag blank is left out of that share's denominator.
-- Disclosure control (macros reform_stats_*): the share and its numerator are suppressed (null,
-- is_suppressed) when the numerator, the denominator or the complement denominator - numerator is
-- 1 to k - 1 (var stats_disclosure_k, default 5); the denominator is suppressed when it is itself
-- that small.
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
            as n_contract_stated

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
        'collected' as data_status

    from region_counts

    union all

    -- not in the rosters: no enterprise reports its education funds and their frontline part
    select
        year,
        region_code,
        region_level,
        'education_fund_frontline_60pct' as share_code,
        '职工教育经费60%以上用于一线职工的企业比例' as share_name_zh,
        cast(null as bigint) as numerator_count,
        0 as denominator_count,
        'not_collected' as data_status

    from region_counts

),

screened as (

    select
        *,
        {{ reform_stats_is_small('numerator_count') }}
            or {{ reform_stats_is_small('denominator_count') }}
            or {{ reform_stats_is_small('denominator_count - numerator_count') }} as hide_share,
        {{ reform_stats_is_small('denominator_count') }} as hide_denominator

    from shares

),

final as (

    select
        md5(concat_ws('|', year, region_code, share_code)) as enterprise_share_id,
        cast(year as integer) as year,
        region_code,
        region_level,
        share_code,
        share_name_zh,
        cast({{ reform_stats_suppress('numerator_count', 'hide_share') }} as integer) as numerator_count,
        cast({{ reform_stats_suppress('denominator_count', 'hide_denominator') }} as integer) as denominator_count,
        cast({{ reform_stats_suppress(reform_monitoring_ratio('numerator_count', 'denominator_count'), 'hide_share') }}
            as double) as share_pct,
        hide_share as is_suppressed,
        data_status

    from screened

)

select * from final
