with

source as (

    select * from {{ source('build', 'build_added_files') }}

),

renamed as (

    select file_sha256

    from source

)

select * from renamed
