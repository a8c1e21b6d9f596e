{#- The national roll-up of a build sharded by province (ingest/shards.py, README "Scaling out by
    province"). With var `reform_input: shards` three models read the union of the provinces' exports
    (source `shards`) instead of the lake's rows; every other model is the same SQL either way:

      fct_indicator_observation      the provinces' rows as they are: a version history is keyed by
                                     unit, region, period and indicator, and every row of one region
                                     is in the same province, so each history lies within one shard
      int_workers_deduplicated       the provinces' latest records, ranked again: a worker (an
      int_enterprises_deduplicated   enterprise) may have records in two provinces in one year, and the
                                     latest of the provinces' latest records is the latest record

    reform_reads_shards()           true in the national roll-up of a sharded build (default: false)
    reform_latest_record_first()    the order that ranks records of the same thing, latest first: by
                                    receipt, then file hash and row number (a total order on the rows of
                                    the lake), so ranking the provinces' winners again picks the winner
                                    of all the rows -#}
{% macro reform_reads_shards() -%}
    {{ return(var('reform_input', 'lake') == 'shards') }}
{%- endmacro %}

{% macro reform_latest_record_first() -%}
    received_at desc, file_sha256 desc, source_row_number desc
{%- endmacro %}

{#- reform_latest_shard_records(table, keys): in the national roll-up, the provinces' latest records of
    `table` (a source `shards` export), ranked again by `keys` (one record per key, the latest) -#}
{% macro reform_latest_shard_records(table, keys) -%}
with

shard_records as (

    select * from {{ source('shards', table) }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by {{ keys | join(', ') }}
            order by {{ reform_latest_record_first() }}
        ) as record_rank

    from shard_records

)

select * exclude (record_rank) from ranked
where record_rank = 1
{%- endmacro %}
