-- Shares of the workforce (职工结构占比), one row per year × region × share, each a ratio of counts
-- of workers (int_workers_deduplicated) recomputed at every region of the roll-up (own region and
-- every ancestor through bridge_region_ancestor) - never an average of percentages:
--   high_skill_of_skill_talents  高技能人才 (grade 高级工 or above) / 技能人才 (any grade) × 100 -
--                                the indicator 高技能人才占技能人才比重
--   high_skill_of_workers        高技能人才 / all workers × 100
--   migrant_workers              农民工 (worker group migrant_workers or new_generation_migrant_workers)
--                                / all workers × 100; a worker whose group is not stated counts as
--                                not a migrant worker
-- Disclosure control (macros reform_stats_*): the share and its numerator are suppressed (null,
-- is_suppressed) when the numerator, the denominator or the complement denominator - numerator is
-- 1 to k - 1 (var stats_disclosure_k, default 5); the denominator is suppressed when it is itself
-- that small.
with

workers as (

    select * from {{ ref('int_workers_deduplicated') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

region_counts as (

    select
        workers.reference_year as year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        count(*) as n_workers,
        count(*) filter (where workers.is_skill_talent) as n_skill_talents,
        count(*) filter (where workers.is_high_skill) as n_high_skill_talents,
        count(*) filter (where workers.is_migrant_worker) as n_migrant_workers

    from workers
    inner join region_ancestors
        on workers.region_code = region_ancestors.region_code
    group by 1, 2, 3

),

shares as (

    select
        year,
        region_code,
        region_level,
        'high_skill_of_skill_talents' as share_code,
        '高技能人才占技能人才比重' as share_name_zh,
        n_high_skill_talents as numerator_count,
        n_skill_talents as denominator_count

    from region_counts

    union all

    select
        year,
        region_code,
        region_level,
        'high_skill_of_workers' as share_code,
        '高技能人才占职工比重' as share_name_zh,
        n_high_skill_talents as numerator_count,
        n_workers as denominator_count

    from region_counts

    union all

    select
        year,
        region_code,
        region_level,
        'migrant_workers' as share_code,
        '农民工占职工比重' as share_name_zh,
        n_migrant_workers as numerator_count,
        n_workers as denominator_count

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
        md5(concat_ws('|', year, region_code, share_code)) as worker_share_id,
        cast(year as integer) as year,
        region_code,
        region_level,
        share_code,
        share_name_zh,
        cast({{ reform_stats_suppress('numerator_count', 'hide_share') }} as integer) as numerator_count,
        cast({{ reform_stats_suppress('denominator_count', 'hide_denominator') }} as integer) as denominator_count,
        cast({{ reform_stats_suppress(reform_monitoring_ratio('numerator_count', 'denominator_count'), 'hide_share') }}
            as double) as share_pct,
        hide_share as is_suppressed

    from screened

)

select * from final
