-- Every submitted value as it was known at one instant: the version valid at var `observations_as_of`
-- (a UTC timestamp 'YYYY-MM-DD[ HH:MM:SS]'; default: far in the future, i.e. the latest versions).
-- The entry point for analysts' dbt models that need "what did we know on D", e.g.
--   dbt build -s +my_model --vars '{observations_as_of: "2025-03-01"}'
-- The predicate itself is the macro reform_monitoring_as_of:
--   valid_from <= D and (valid_to is null or valid_to > D)
with

observations as (

    select * from {{ ref('fct_indicator_observation') }}

),

known_as_of as (

    select
        *,
        cast('{{ var("observations_as_of", "9999-12-31") }}' as timestamp) as known_as_of

    from observations

),

final as (

    select * from known_as_of
    where {{ reform_monitoring_as_of('known_as_of') }}

)

select * from final
