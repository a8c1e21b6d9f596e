-- The units the documents name (seed) and the ones the province registered (`reform register`);
-- `reform register` refuses a code the seed already has, so the union has one row per unit.
with

documents as (

    select * from {{ ref('reporting_units') }}

),

registered as (

    select * from {{ source('lake', 'register_units') }}

),

renamed as (

    select
        unit_code as reporting_unit_code,
        name_zh,
        name_en,
        kind as unit_kind,
        cast(region_code as varchar) as region_code

    from documents

    union all

    select
        unit_code as reporting_unit_code,
        name_zh,
        name_en,
        kind as unit_kind,
        cast(region_code as varchar) as region_code

    from registered

)

select * from renamed
