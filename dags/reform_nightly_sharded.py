"""reform_nightly_sharded: the nightly build split by province, for when the lake outgrows one machine.

`plan` snapshots the lake and routes every row to a shard: the province its region lies in, or
000000 for what lies in no province. One mapped task per shard (`build_province`, any Celery worker)
loads that province's rows into its own DuckDB file, runs `dbt build` and the Great Expectations
checkpoints, and exports its outputs to Parquet under REFORM_HOME/warehouse/build/<run_id>/shards/.
`roll_up` builds the national warehouse from those exports (never from the lake's raw rows); it is
validated and published exactly as reform_nightly's, with the same marts. Any shard's failure stops
the run before the roll-up and the previous warehouse stays published. README, "Scaling out by
province"; ingest/shards.py.

Triggered by hand (schedule None): give it reform_nightly's schedule, and pause reform_nightly, when a
single machine no longer builds the lake in time. Param `dbt_vars` is passed to every dbt build, e.g.
{"as_of_date": "2025-12-31"}.
"""

from __future__ import annotations

from airflow.sdk import Param, dag

from ingest.dag_parts import START_DATE, default_args, shards_roll_up_publish


@dag(
    dag_id="reform_nightly_sharded",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["reform", "warehouse", "sharded"],
    default_args=default_args(),
    params={
        "dbt_vars": Param({}, type="object", description='dbt vars for every build, e.g. {"as_of_date": "2025-12-31"}')
    },
    doc_md=__doc__,
)
def reform_nightly_sharded():
    shards_roll_up_publish()


reform_nightly_sharded()
