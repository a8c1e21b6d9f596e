with

source as (

    select * from {{ source('build', 'build_info') }}

),

renamed as (

    select
        mode as build_mode,
        base_run_id,
        cast(base_as_of_date as date) as base_as_of_date

    from source

)

select * from renamed
