{#- The sums that hold between the worker counts the statistics marts publish, one row per member of a
    sum: (sum_id, cell_id, is_total), is_total marking the sum's own cell. `cells` names a relation of
    the counts (int_worker_counts_suppressed or its cells) with cell_id, year, region_code, parent_code,
    industry_section_code, skill_grade_code, is_share_count and is_high_skill_grade (the grade's
    is_high_skill; null for the margins and share counts). The sums:
      grades      the grades of a region × section add up to its '_T' grade (the '_Z' no-grade included)
      sections    the sections of a region × grade add up to its '_T' section
      regions     the regions whose parent is P add up to P, for every count (a worker recorded at P
                  itself makes P larger: step 1 takes the sum as exact, which withholds more, never
                  less; the audit adds those workers as a member, a count of their own)
      high_skill  the high-skill grades of a region's all-industries row add up to its '_HS'
      talents     the grades of the ladder of that row add up to its '_ST'
      complements '_HS' + '_LS' = '_ST', '_HS' + '_NH' = '_T', '_MW' + '_NM' = '_T', '_ST' + '_Z' = '_T'
    A sum of one member (a region without children) constrains nothing and is left out.
    Read by int_worker_counts_suppressed (one sum at a time) and int_worker_counts_audited (all of
    them together, through the model int_worker_count_sums). -#}
{% macro reform_stats_worker_count_sums(cells) -%}
    select sum_id, cell_id, is_total
    from (
        select concat_ws('|', 'grades', year, region_code, industry_section_code) as sum_id, cell_id,
            skill_grade_code = '_T' as is_total
        from {{ cells }}
        where not is_share_count

        union all

        select concat_ws('|', 'sections', year, region_code, skill_grade_code), cell_id, industry_section_code = '_T'
        from {{ cells }}
        where not is_share_count

        union all

        select concat_ws('|', 'regions', year, parent_code, industry_section_code, skill_grade_code), cell_id, false
        from {{ cells }}
        where parent_code is not null

        union all

        select concat_ws('|', 'regions', year, region_code, industry_section_code, skill_grade_code), cell_id, true
        from {{ cells }}

        union all

        select concat_ws('|', 'high_skill', year, region_code), cell_id, skill_grade_code = '_HS'
        from {{ cells }}
        where industry_section_code = '_T' and (is_high_skill_grade or skill_grade_code = '_HS')

        union all

        select concat_ws('|', 'talents', year, region_code), cell_id, skill_grade_code = '_ST'
        from {{ cells }}
        where industry_section_code = '_T' and (is_high_skill_grade is not null or skill_grade_code = '_ST')

        union all

        select concat_ws('|', complement.name, year, region_code), cell_id, skill_grade_code = complement.total
        from {{ cells }} as cells
        inner join (values
            ('below_high_skill', '_HS', '_LS', '_ST'),
            ('not_high_skill', '_HS', '_NH', '_T'),
            ('not_migrant', '_MW', '_NM', '_T'),
            ('no_grade', '_ST', '_Z', '_T')
        ) as complement (name, part, rest, total)
            on cells.skill_grade_code in (complement.part, complement.rest, complement.total)
        where cells.industry_section_code = '_T'
    ) as sums
    qualify count(*) over (partition by sum_id) > 1
{%- endmacro %}
