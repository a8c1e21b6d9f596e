{#- The DDL of a contracted table without its primary key. DuckDB enforces a primary key with an ART
    index that every insert maintains: at province scale, loading the observation fact's 9.7 million
    keys into one took 40 s instead of 2, and the index lives on in the file. The declared key stays in
    the YAML (the contract's documentation) and is tested instead: dbt's unique and not_null tests and
    the generated GX key suites (ingest/validation.py mart_key_suites) check every build before it is
    published. Other constraints (not null, check) are kept: they cost next to nothing. -#}
{% macro duckdb__get_table_columns_and_constraints() -%}
    {%- set columns = {} -%}
    {%- for name, column in model['columns'].items() -%}
        {%- set kept = (column.get('constraints') or []) | rejectattr('type', 'equalto', 'primary_key') | list -%}
        {%- do columns.update({name: dict(column, constraints=kept)}) -%}
    {%- endfor -%}
    {%- set model_constraints = (model['constraints'] or []) | rejectattr('type', 'equalto', 'primary_key') | list -%}
    {%- set raw_column_constraints = adapter.render_raw_columns_constraints(raw_columns=columns) -%}
    {%- set raw_model_constraints = adapter.render_raw_model_constraints(raw_constraints=model_constraints) -%}
    (
    {% for c in raw_column_constraints -%}
      {{ c }}{{ "," if not loop.last or raw_model_constraints }}
    {% endfor %}
    {% for c in raw_model_constraints -%}
        {{ c }}{{ "," if not loop.last }}
    {% endfor -%}
    )
{%- endmacro %}
