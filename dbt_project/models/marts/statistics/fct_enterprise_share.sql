-- Shares of enterprises (企业覆盖率与合规率), one row per year × region × share, each a ratio of
-- counts of enterprises recomputed at every region of the roll-up - never an average of percentages
-- (the shares, their numerators, denominators and not-reported counts are int_enterprise_shares_counted's):
--   union_100plus                  百人以上企业工会组织覆盖率
--   collective_contract_100plus    百人以上企业集体合同覆盖率
--   education_fund_frontline_60pct 职工教育经费60%以上用于一线职工的企业比例 (national opinion (十),
--                                  fct_target nat-10-01); data_status 'not_collected' (numerator
--                                  and share null, denominator 0 - not a zero) where no roster of the
--                                  year and region states the amounts.
-- Disclosure control (int_statistics_cells_audited): a numerator, denominator or not-reported count
-- of 1 to k - 1 enterprises (var stats_disclosure_k, default 5) is null, and so is any count the
-- audit withholds so that no small count - these, a complement (denominator - numerator) or the
-- enterprises of 100+ (denominator + not reported) - can be worked out from the published counts
-- that add up to one another (the regions below a parent; numerator + complement = denominator;
-- denominator + not reported = the enterprises in scope, the same for both 100+ shares). The share
-- is null with its numerator (is_suppressed) - and when the denominator is withheld, which the share
-- and the numerator would give away.
with

counted as (

    select * from {{ ref('int_enterprise_shares_counted') }}

),

audited as (

    select * from {{ ref('int_statistics_cells_audited') }}
    where table_name = 'enterprise_shares'

),

-- a count of 0 is not a cell of the audit (a published zero): never withheld
screened as (

    select
        counted.*,
        coalesce(numerators.is_suppressed, false) or coalesce(denominators.is_suppressed, false) as hide_share,
        coalesce(denominators.is_suppressed, false) as hide_denominator,
        coalesce(not_reported.is_suppressed, false) as hide_not_reported

    from counted
    left join audited as numerators
        on numerators.cell_id = counted.cell_id || ':numerator'
    left join audited as denominators
        on denominators.cell_id = counted.cell_id || ':denominator'
    left join audited as not_reported
        on not_reported.cell_id = counted.cell_id || ':not_reported'

),

final as (

    select
        cell_id as enterprise_share_id,
        cast(year as integer) as year,
        region_code,
        region_level,
        share_code,
        share_name_zh,
        cast({{ reform_stats_suppress('numerator_count', 'hide_share') }} as integer) as numerator_count,
        cast({{ reform_stats_suppress('denominator_count', 'hide_denominator') }} as integer) as denominator_count,
        cast({{ reform_stats_suppress('not_reported_count', 'hide_not_reported') }} as integer)
            as not_reported_count,
        cast({{ reform_stats_suppress(reform_monitoring_ratio('numerator_count', 'denominator_count'), 'hide_share') }}
            as double) as share_pct,
        hide_share as is_suppressed,
        data_status

    from screened

)

select * from final
