-- Shares of the workforce (职工结构占比), one row per year × region × share, each a ratio of counts
-- of workers (int_workers_deduplicated) recomputed at every region of the roll-up (own region and
-- every ancestor through bridge_region_ancestor) - never an average of percentages:
--   high_skill_of_skill_talents  高技能人才 (grade 高级工 or above) / 技能人才 (any grade) × 100 -
--                                the indicator 高技能人才占技能人才比重
--   high_skill_of_workers        高技能人才 / all workers × 100
--   migrant_workers              农民工 (worker group migrant_workers or new_generation_migrant_workers)
--                                / all workers × 100; a worker whose group is not stated counts as
--                                not a migrant worker
-- The counts and their disclosure control come from int_worker_counts_audited, where they are
-- cells of the region's all-industries row beside the skill-grade pyramid's: '_HS', '_ST', '_MW' and
-- the workers '_T'. A withheld count is withheld here in every share it appears in; the share and
-- its numerator are withheld when either count is (the share and one count give the other away).
-- So a share is withheld when its numerator, its denominator or their difference (the complement,
-- e.g. the non-migrant workers) is 1 to k - 1 (var stats_disclosure_k, default 5), or when one of
-- its counts would let a small count elsewhere be derived.
with

counts as (

    select * from {{ ref('int_worker_counts_audited') }}
    where industry_section_code = '_T' and skill_grade_code in ('_T', '_HS', '_ST', '_MW')

),

share_definitions as (

    select * from (values
        ('high_skill_of_skill_talents', '高技能人才占技能人才比重', '_HS', '_ST'),
        ('high_skill_of_workers', '高技能人才占职工比重', '_HS', '_T'),
        ('migrant_workers', '农民工占职工比重', '_MW', '_T')
    ) as definitions (share_code, share_name_zh, numerator_cell, denominator_cell)

),

shares as (

    select
        numerators.year,
        numerators.region_code,
        numerators.region_level,
        share_definitions.share_code,
        share_definitions.share_name_zh,
        numerators.n_workers as numerator_count,
        denominators.n_workers as denominator_count,
        numerators.is_suppressed or denominators.is_suppressed as hide_share,
        denominators.is_suppressed as hide_denominator

    from share_definitions
    inner join counts as numerators
        on share_definitions.numerator_cell = numerators.skill_grade_code
    inner join counts as denominators
        on share_definitions.denominator_cell = denominators.skill_grade_code
        and numerators.year = denominators.year
        and numerators.region_code = denominators.region_code

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

    from shares

)

select * from final
