{#- reform_latest_records(relation, keys): the rows of `relation` (a CTE or relation of lake records, with
    received_at, file_sha256 and source_row_number), one per combination of `keys` (a list of
    columns): the latest record, in the order of reform_latest_record_first() (by receipt, then file
    hash, then row number). The same rows as

        select * exclude (record_rank) from (
            select *, row_number() over (partition by <keys> order by <latest first>) as record_rank
            from relation
        ) where record_rank = 1

    but only the rows whose keys repeat are ranked. A hash of the keys finds them (an aggregate on one
    integer); the rows whose hash occurs once are kept as they are, and the others (a repeated key,
    or, rarely, two keys with the same hash) are ranked exactly, by the keys themselves. A window
    over every row sorted the province's 30 million training records by three text columns: 20 s,
    against 9 s this way when few keys repeat. Among the ranked rows the files are ordered by a
    number (their place in hash order), not by the 64-character hash: the same order, and a sort
    that fits in memory even when a whole file is sent again. -#}
{% macro reform_latest_records(relation, keys) -%}
    with

    {{ reform_repeated_keys(relation, keys) }},

    candidates as (

        select * from keyed
        semi join repeated_keys using (_key_hash)

    ),

    candidate_files as (

        select file_sha256, row_number() over (order by file_sha256) as _file_order
        from (select distinct file_sha256 from candidates)

    ),

    ranked as (

        select
            candidates.*,
            row_number() over (
                partition by {% for key in keys %}candidates.{{ key }}{{ ', ' if not loop.last }}{% endfor %}
                order by candidates.received_at desc, candidate_files._file_order desc,
                    candidates.source_row_number desc
            ) as _record_rank

        from candidates
        inner join candidate_files
            on candidates.file_sha256 = candidate_files.file_sha256

    )

    select * exclude (_key_hash) from keyed
    anti join repeated_keys using (_key_hash)

    union all

    select * exclude (_key_hash, _record_rank) from ranked
    where _record_rank = 1
{%- endmacro %}


{#- reform_repeated_keys(relation, keys): two CTEs, `keyed` (the rows of `relation` with `_key_hash`, a
    hash of `keys`) and `repeated_keys` (the hashes that occur more than once). A row whose hash is
    not repeated is the only row of its keys; the others (a repeated key, or rarely two keys with
    the same hash) are the few a window has to see. -#}
{% macro reform_repeated_keys(relation, keys) -%}
    keyed as (

        select *, hash({{ keys | join(', ') }}) as _key_hash
        from {{ relation }}

    ),

    repeated_keys as (

        select _key_hash
        from keyed
        group by _key_hash
        having count(*) > 1

    )
{%- endmacro %}
