-- The sums that hold between the worker counts (macro reform_stats_worker_count_sums), one row per
-- member, over the counts of int_worker_counts_suppressed: what int_worker_counts_audited solves
-- together to find a small count that combining published sums would pin down.
{{ config(materialized='table') }}

with

counts as (

    select * from {{ ref('int_worker_counts_suppressed') }}

),

final as (

    {{ reform_stats_worker_count_sums('counts') }}

)

select * from final
