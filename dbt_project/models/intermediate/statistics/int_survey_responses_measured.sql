-- Survey answers in long form (调查答案长表): one row per respondent and measure answered, with the
-- numeric value y the estimators average and the respondent's design weight w. A respondent who
-- did not answer a question has no row for its measures (available-case analysis: item
-- non-response is not imputed, the base of each measure is its answers). A respondent sent again in
-- a later file counts once, with the latest file's answers. The survey year is the year the file
-- states, or else the Shanghai calendar year of receipt.
--   monthly_income       mean    y = monthly income in yuan                     (月收入)
--   satisfaction_score   mean    y = satisfaction 1-5                           (满意度得分)
--   satisfied            share   y = 1 when satisfaction is 4 or 5, else 0      (满意及非常满意比例)
--   received_training    share   y = 1 when the respondent received training    (参加过培训比例)
--   has_written_contract share   y = 1 when a written labour contract is signed (签订书面劳动合同比例)
-- A table: read by fct_survey_estimate.
{{ config(materialized='table') }}

with

responses as (

    select * from {{ ref('stg_microdata__survey_responses') }}

),

ranked as (

    select
        *,
        {{ reform_stats_reference_year('received_at', 'survey_year') }} as reference_survey_year,
        row_number() over (
            partition by respondent_id, {{ reform_stats_reference_year('received_at', 'survey_year') }}
            order by received_at desc, file_sha256 desc, source_row_number desc
        ) as record_rank

    from responses

),

latest as (

    select * from ranked
    where record_rank = 1

),

measures as (

    select * from (values
        ('monthly_income', '月收入', 'Monthly income', 'mean', '元'),
        ('satisfaction_score', '满意度得分(1-5)', 'Satisfaction score (1-5)', 'mean', '分'),
        ('satisfied', '满意及非常满意的比例', 'Share satisfied or very satisfied', 'proportion', 'proportion'),
        ('received_training', '参加过培训的比例', 'Share who received training', 'proportion', 'proportion'),
        ('has_written_contract', '签订书面劳动合同的比例', 'Share with a written labour contract', 'proportion', 'proportion')
    ) as measures (measure_code, measure_name_zh, measure_name_en, estimate_type, unit)

),

answers as (

    select
        latest.respondent_id,
        latest.reference_survey_year as survey_year,
        latest.region_code,
        latest.worker_group_code,
        latest.design_weight,
        measures.measure_code,
        measures.measure_name_zh,
        measures.measure_name_en,
        measures.estimate_type,
        measures.unit,
        case measures.measure_code
            when 'monthly_income' then latest.monthly_income_yuan
            when 'satisfaction_score' then cast(latest.satisfaction as double)
            when 'satisfied' then cast(latest.satisfaction >= 4 as double)
            when 'received_training' then cast(latest.received_training as double)
            when 'has_written_contract' then cast(latest.has_written_contract as double)
        end as y

    from latest
    cross join measures

),

final as (

    select
        answers.survey_year,
        answers.respondent_id,
        answers.region_code,
        answers.worker_group_code,
        answers.measure_code,
        answers.measure_name_zh,
        answers.measure_name_en,
        answers.estimate_type,
        answers.unit,
        cast(answers.y as double) as y,
        cast(answers.design_weight as double) as design_weight

    from answers
    where answers.y is not null

)

select * from final
