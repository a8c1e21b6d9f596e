{#- The p-quantile of a weighted distribution (加权分位数), Hyndman & Fan (1996) definition 2 - the
    inverse of the weighted empirical distribution function, averaging at its jumps - computed as an
    aggregate over rows sorted by value that carry:
        value         x_j, the row's value
        next_value    x_(j+1), the next row's value in the sort order (lead)
        cum_weight    W_j = w_1 + … + w_j, the running sum of the weights in that order
        total_weight  W, the sum of all weights of the group
    Q(p) = x_j for the first row j with W_j >= p·W, except that when W_j = p·W exactly the quantile
    is (x_j + x_(j+1)) / 2. With whole-number weights (headcounts) this is exactly the ordinary
    quantile (median: the mean of the two middle values of an even count) of the data in which
    every value x_j is repeated w_j times. Rows must have w_j > 0. p·W is exact in floating point
    for p = 0.25, 0.5, 0.75 and whole W, so the equality test is exact. -#}
{% macro reform_stats_weighted_quantile(
    p, value='value', next_value='next_value', cum_weight='cum_weight', total_weight='total_weight'
) -%}
    {{ reform_stats_weighted_quantile_pick(
        p, value, '(' ~ value ~ ' + ' ~ next_value ~ ') / 2', next_value, cum_weight, total_weight
    ) }}
{%- endmacro %}

{#- The rows reform_stats_weighted_quantile(p) takes its value from, as a list of their `id`s: the first
    row j with W_j >= p·W, and the next row too when W_j = p·W exactly (the quantile is then the
    mean of the two). A published quantile gives those rows' values away (fct_wage_quantile withholds
    it when one of them is a cell withheld on its own). -#}
{% macro reform_stats_weighted_quantile_sources(
    p, id='id', next_id='next_id', cum_weight='cum_weight', total_weight='total_weight'
) -%}
    {{ reform_stats_weighted_quantile_pick(
        p, '[' ~ id ~ ']', '[' ~ id ~ ', ' ~ next_id ~ ']', next_id, cum_weight, total_weight
    ) }}
{%- endmacro %}

{#- The rule both use, once: of the rows with W_j >= p·W, the first one's `single`, or its `pair` when
    W_j = p·W exactly and a next row exists (`next` not null). -#}
{% macro reform_stats_weighted_quantile_pick(p, single, pair, next, cum_weight, total_weight) -%}
    arg_min(
        case
            when {{ cum_weight }} = {{ p }} * {{ total_weight }} and {{ next }} is not null
                then {{ pair }}
            else {{ single }}
        end,
        {{ cum_weight }}
    ) filter (where {{ cum_weight }} >= {{ p }} * {{ total_weight }})
{%- endmacro %}
