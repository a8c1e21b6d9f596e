{#- The indicator × periods an incremental build of fct_indicator_rollup recomputes, as a select of
    (indicator_code, period_id): those tonight's files reported, those in which expected submissions
    fell due (or stopped being due) since the base release was built, and the ratios with such a part.
    `added_files` and `build_info`: the relations of the files tonight added (file_sha256) and of the
    build (base_as_of_date); the model passes its staging refs, its pre-hook the sources (a hook is a
    statement of its own, where the ephemeral staging models do not exist). -#}
{% macro reform_monitoring_rollup_touched(added_files, build_info) -%}
    with changed_inputs as (
        select distinct indicator_code, period_id
        from {{ ref('stg_lake__submissions') }}
        semi join {{ added_files }} using (file_sha256)
        union
        select distinct expected.indicator_code, expected.period_id
        from {{ ref('fct_expected_submission') }} as expected
        cross join {{ build_info }} as build
        where {{ reform_monitoring_fell_due('expected.due_date', 'build.base_as_of_date') }}
    )
    select indicator_code, period_id from changed_inputs
    union
    select ratios.indicator_code, changed_inputs.period_id
    from {{ ref('dim_indicator') }} as ratios
    inner join changed_inputs
        on changed_inputs.indicator_code in (ratios.numerator_code, ratios.denominator_code)
    where ratios.aggregation = 'ratio'
{%- endmacro %}

{#- fct_indicator_rollup's pre-hook in an incremental build: delete the rows of every key it recomputes.
    delete+insert alone deletes only the keys the new rows have, so a key recomputed to no rows at all (a
    figure withdrawn as 不适用, an as-of date moved back) would keep its old rows; a full build has none. -#}
{% macro reform_monitoring_rollup_delete_touched() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as rollup
    using ({{ reform_monitoring_rollup_touched(
        '(select file_sha256 from ' ~ source('build', 'build_added_files') ~ ')',
        '(select cast(base_as_of_date as date) as base_as_of_date from ' ~ source('build', 'build_info') ~ ')'
    ) }}) as touched
    where rollup.indicator_code = touched.indicator_code and rollup.period_id = touched.period_id
    {%- endif -%}
{%- endmacro %}
