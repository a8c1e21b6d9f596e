-- Survey highlights with margins of error (调查要点及误差范围), for the annual report (蓝皮书): every
-- survey estimate of fct_survey_estimate in the units a reader expects - proportions in percent
-- with the margin in percentage points, incomes in yuan, scores in points - and one printable
-- Chinese sentence, e.g.
--   签订书面劳动合同的比例 80.2% (±3.1个百分点, 95%置信区间 77.1%-83.3%, 样本量 n=595)
--   月收入 6,000元 (±2,450元, 95%置信区间 3,550-8,450元, 样本量 n=595)
-- margin of error = z · SE (z = 1.959963984540054, 95 %). A suppressed estimate (unweighted base
-- below var survey_min_unweighted_base, default 30) prints as 样本量不足30, 不予发布 (n=…), never as
-- a number.
with

estimates as (

    select * from {{ ref('fct_survey_estimate') }}

),

regions as (

    select * from {{ ref('dim_region') }}

),

worker_groups as (

    select * from {{ ref('dim_worker_group') }}

),

scaled as (

    select
        estimates.*,
        case estimates.estimate_type when 'proportion' then 100.0 else 1.0 end as display_factor,
        case estimates.unit
            when 'proportion' then '%'
            else estimates.unit
        end as display_unit,
        case estimates.unit
            when '元' then '{:,.0f}'
            when '分' then '{:.2f}'
            else '{:.1f}'
        end as number_format

    from estimates

),

displayed as (

    select
        *,
        estimate * display_factor as estimate_display,
        margin_of_error * display_factor as margin_of_error_display,
        ci_lower * display_factor as ci_lower_display,
        ci_upper * display_factor as ci_upper_display

    from scaled

),

final as (

    select
        displayed.survey_estimate_id,
        displayed.survey_year,
        displayed.region_code,
        regions.name_zh as region_name_zh,
        displayed.region_level,
        displayed.worker_group_code,
        case displayed.worker_group_code
            when '_T' then '全体职工'
            else worker_groups.name_zh
        end as worker_group_name_zh,
        displayed.measure_code,
        displayed.measure_name_zh,
        displayed.display_unit,
        cast(displayed.estimate_display as double) as estimate_display,
        cast(displayed.margin_of_error_display as double) as margin_of_error_display,
        cast(displayed.ci_lower_display as double) as ci_lower_display,
        cast(displayed.ci_upper_display as double) as ci_upper_display,
        displayed.n_unweighted,
        displayed.is_suppressed,
        case
            when displayed.is_suppressed then
                displayed.measure_name_zh || ' 样本量不足' || {{ reform_stats_survey_min_base() }}
                || ', 不予发布 (n=' || displayed.n_unweighted || ')'
            when displayed.standard_error is null then
                displayed.measure_name_zh || ' ' || format(displayed.number_format, displayed.estimate_display)
                || displayed.display_unit || ' (样本量 n=' || displayed.n_unweighted || ')'
            else
                displayed.measure_name_zh || ' ' || format(displayed.number_format, displayed.estimate_display)
                || displayed.display_unit
                || ' (±' || format(displayed.number_format, displayed.margin_of_error_display)
                || case when displayed.estimate_type = 'proportion' then '个百分点' else displayed.display_unit end
                || ', 95%置信区间 ' || format(displayed.number_format, displayed.ci_lower_display)
                || case when displayed.estimate_type = 'proportion' then '%' else '' end
                || '-' || format(displayed.number_format, displayed.ci_upper_display) || displayed.display_unit
                || ', 样本量 n=' || displayed.n_unweighted || ')'
        end as highlight_zh

    from displayed
    left join regions
        on displayed.region_code = regions.region_code
    left join worker_groups
        on displayed.worker_group_code = worker_groups.worker_group_code

)

select * from final
