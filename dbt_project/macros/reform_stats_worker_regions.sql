{#- Each worker once, in the region of its record of the latest reference year (统计年度): where the
    trainings and certifications, which carry no region, are counted. `workers` names a relation
    with worker_pseudonym, region_code and reference_year (int_workers_deduplicated). -#}
{% macro reform_stats_worker_regions(workers) -%}
    select
        worker_pseudonym,
        arg_max(region_code, reference_year) as region_code

    from {{ workers }}
    group by worker_pseudonym
{%- endmacro %}
