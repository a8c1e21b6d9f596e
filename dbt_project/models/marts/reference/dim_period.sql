-- The reporting calendar: every annual, half-year, quarterly and monthly period from
-- calendar_first_year to calendar_last_year (dbt vars), with SDMX ids and start and end dates.
with

years as (

    select unnest(range({{ var('calendar_first_year', 2016) }}, {{ var('calendar_last_year', 2035) }} + 1)) as year

),

periods as (

    select 'annual' as period_type, year, 1 as period_number, cast(year as varchar) as period_id,
        make_date(year, 1, 1) as start_date, 12 as months
    from years
    union all
    select 'half_year', year, n, year || '-S' || n, make_date(year, 6 * (n - 1) + 1, 1), 6
    from years, unnest(range(1, 3)) as t(n)
    union all
    select 'quarter', year, n, year || '-Q' || n, make_date(year, 3 * (n - 1) + 1, 1), 3
    from years, unnest(range(1, 5)) as t(n)
    union all
    select 'month', year, n, year || '-M' || lpad(cast(n as varchar), 2, '0'), make_date(year, n, 1), 1
    from years, unnest(range(1, 13)) as t(n)

),

final as (

    select
        period_id,
        period_type,
        cast(year as integer) as year,
        cast(period_number as integer) as period_number,
        cast(start_date as date) as start_date,
        cast(start_date + to_months(months) - interval 1 day as date) as end_date,
        case period_type
            when 'annual' then year || '年'
            when 'half_year' then year || '年' || case period_number when 1 then '上半年' else '下半年' end
            when 'quarter' then year || '年第' || period_number || '季度'
            else year || '年' || period_number || '月'
        end as name_zh

    from periods

)

select * from final
