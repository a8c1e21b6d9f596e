"""Incremental builds: the nightly that adds a day's files without rebuilding the whole province.

A full build loads every lake file into a fresh build file and runs every dbt model (minutes at province
scale). Most nights only a few dozen forms arrived. ``reform build --incremental`` then:

1. starts from a copy of the published release instead of an empty file;
2. appends only the lake files that arrived since that release was built (its inventory of lake files
   is kept in the warehouse, ``audit.build_inputs``);
3. runs ``dbt build`` on the models downstream of the raw tables that received rows, plus the models
   whose result depends on the build date (``reform_monitoring_as_of_date``) and what is downstream of
   them; every other model's inputs are unchanged, so its table in the copy is already right;
4. validates the tables it rebuilt or appended to; the other suites' results are carried forward from
   the release (``carried_from_run_id`` in ``audit.validation_results``), so every run still has a
   complete verdict;
5. exports only the rebuilt marts to Parquet; the others are the release's exports.

It falls back to a full build, saying why, whenever the shortcut could be wrong: no published release
or one built before this existed, the dbt project (models, seeds, macros), the dbt vars or the lake's
schemas changed, or a file the release holds changed or vanished (a reprocess, a new unit register).
The plan is written beside the build file (``plan.json``) so that each step (dbt, validate, publish),
also as separate Airflow tasks, follows the same plan.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest import lake
from ingest.config import DBT_PARSE_FILE, DBT_PROJECT_DIR, WAREHOUSE_FILE_NAME, Paths

log = logging.getLogger(__name__)

PLAN_FILE = "plan.json"
INPUTS_TABLE = "audit.build_inputs"
INFO_TABLE = "audit.build_info"
ADDED_FILES_TABLE = "audit.build_added_files"
AS_OF_MACRO = "macro.reform.reform_monitoring_as_of_date"
# the unit register's lake tables: a register loaded since the base (the first one: a later one replaces
# the snapshot, a changed file) always makes a full build
REGISTER_TABLES = ("raw.register_units", "raw.register_obligations")


def touched_sql(columns: tuple[str, ...]) -> str:
    """SQL for the distinct ``columns`` of the submissions an incremental build appended tonight (its
    ``audit.build_added_files``): the groups the night touched (none in a full build)."""
    return (
        f"select distinct {', '.join(columns)} from raw.submissions semi join {ADDED_FILES_TABLE} using (file_sha256)"
    )


Inventory = dict[str, dict[str, tuple[int, int]]]  # warehouse table → lake file name → (size, mtime_ns)


@dataclass
class Plan:
    """How one build is made; ``mode`` is ``full`` or ``incremental``."""

    mode: str
    reason: str
    fingerprint: str = ""
    base_run_id: str | None = None
    new_files: dict[str, list[str]] = field(default_factory=dict)  # table → lake files added to the base
    models: list[str] = field(default_factory=list)  # dbt models to build (incremental)
    relations: list[str] = field(default_factory=list)  # schema.table that this build (re)wrote
    # dbt tests this build leaves out: the key tests of the marts it rebuilds, rules that those marts'
    # GX key suites check before it is published (see key_tests): each rule once a night
    skipped_tests: list[str] = field(default_factory=list)
    # when the lake was inventoried for this build (seconds since the epoch; 0: not known, an older plan):
    # a release whose lake was inventoried later holds all this build holds and more
    inventoried_at: float = 0.0
    # a sharded build's roll-up: its shards, which checked the raw rows that stay in them (see
    # ingest.shards.CLEANED); the roll-up's own raw tables of those rows are empty
    shards: list[str] = field(default_factory=list)

    @property
    def incremental(self) -> bool:
        return self.mode == "incremental"

    def write(self, build_dir: Path) -> None:
        (build_dir / PLAN_FILE).write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def read(cls, build_dir: Path) -> Plan:
        """The build's plan; a build prepared without one (an older task) is a full build."""
        path = build_dir / PLAN_FILE
        if not path.exists():
            return cls("full", "no plan beside the build file")
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def inventory(lake_dir: Path) -> Inventory:
    """Every lake file a build may read (:func:`ingest.lake.table_files`: of received files, only the
    committed ones), by warehouse table: name → (size, modification time in ns)."""
    found: Inventory = {}
    committed = lake.committed_names(lake_dir)
    for table in lake.LAKE_TABLES:
        entries = found.setdefault(table, {})
        for path in lake.table_files(lake_dir, table, committed):
            stat = os.stat(path)
            entries[path.name] = (stat.st_size, stat.st_mtime_ns)
    return found


def fingerprint(dbt_vars: dict[str, object] | None = None) -> str:
    """What a build's tables depend on besides the lake's rows: the dbt project, its vars, the lake schemas."""
    from ingest.dbt_cosmos import project_fingerprint

    digest = hashlib.sha256(project_fingerprint(DBT_PROJECT_DIR).encode())
    digest.update(json.dumps(dbt_vars or {}, sort_keys=True, default=str).encode())
    for table, (folder, schema) in sorted(lake.LAKE_TABLES.items()):
        digest.update(f"{table} {folder} {schema}\n".encode())
    return digest.hexdigest()[:16]


def plan_build(paths: Paths, files: Inventory, dbt_vars: dict[str, object] | None = None) -> Plan:
    """An incremental plan on top of the published release when that is safe, else a full one (with why)."""
    from ingest.warehouse import current_release

    print_ = fingerprint(dbt_vars)
    base = current_release(paths)
    if base is None:
        return Plan("full", "there is no published release to start from", print_)
    release = paths.releases / base / WAREHOUSE_FILE_NAME
    with duckdb.connect(str(release), read_only=True) as con:
        known = {
            (schema, name)
            for schema, name in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()
        }
        if ("audit", "build_inputs") not in known or ("audit", "build_info") not in known:
            return Plan(
                "full",
                f"the release {base} holds no inventory of lake files "
                "(built sharded, or before incremental builds existed)",
                print_,
            )
        (previous_print,) = con.execute(f"select fingerprint from {INFO_TABLE}").fetchall()[0]
        held = con.execute(f"select table_name, file_name, size_bytes, mtime_ns from {INPUTS_TABLE}").fetchall()
    if previous_print != print_:
        return Plan("full", f"the dbt project, its vars or the lake's schemas changed since {base}", print_)
    before: Inventory = {}
    for table, name, size, mtime in held:
        before.setdefault(table, {})[name] = (size, mtime)
    for table, entries in before.items():
        now = files.get(table, {})
        changed = [name for name, stat in entries.items() if now.get(name) != stat]
        if changed:
            return Plan(
                "full",
                f"{len(changed)} lake file(s) of {table} changed or were removed since {base} "
                f"(e.g. {changed[0]}: reprocessed, re-registered or pruned)",
                print_,
            )
    new_files = {
        table: sorted(set(entries) - set(before.get(table, {})))
        for table, entries in files.items()
        if set(entries) - set(before.get(table, {}))
    }
    if registered := sorted(set(new_files) & set(REGISTER_TABLES)):
        # completeness and the roll-up rebuild only the expected submissions tonight's forms or the build
        # date reach; a first register adds obligations no form has reached yet
        return Plan("full", f"a unit register was loaded since {base} ({', '.join(registered)})", print_)
    manifest = project_manifest()
    models, relations = downstream(set(new_files), manifest)
    return Plan(
        "incremental",
        # a form arrives as up to three files (its segment's rows, refused rows and record): say whose
        f"{sum(len(v) for v in new_files.values())} new lake file(s) since {base} ("
        + ", ".join(f"{table} {len(names)}" for table, names in sorted(new_files.items()))
        + ")",
        print_,
        base,
        new_files,
        models,
        sorted(relations | set(new_files)),
        key_tests(models, manifest),
    )


def project_manifest() -> dict:
    """The dbt project's parsed manifest (made once per version of the project, see ``ensure_manifest``)."""
    from ingest.dbt_cosmos import ensure_manifest

    return json.loads(ensure_manifest(DBT_PROJECT_DIR).read_text(encoding="utf-8"))


def key_tests(models: list[str], manifest: dict) -> list[str]:
    """The dbt tests among ``models``' that check a mart's primary key: ``unique`` on a one-column key,
    ``not_null`` on a key column. The mart's GX key suite (:func:`ingest.validation.mart_key_suites`,
    derived from the same declaration) checks exactly these rules, and an incremental build validates
    every mart it rebuilds before publishing it; so its dbt build leaves them out (on the province's
    observations, ``unique`` alone scans 9.7 million rows). A full build runs both."""
    from ingest.dbt_cosmos import primary_key

    nodes = manifest["nodes"]
    chosen = set(models)
    keys = {
        uid: primary_key(node)
        for uid, node in nodes.items()
        if node["resource_type"] == "model"
        and node["name"] in chosen
        and node.get("original_file_path", "").startswith("models/marts/")
    }
    found = []
    for node in nodes.values():
        test = (node.get("test_metadata") or {}).get("name")
        key = keys.get(node.get("attached_node") or "")
        if node["resource_type"] != "test" or not key or test not in ("unique", "not_null"):
            continue
        column = node.get("column_name")
        if (test == "unique" and key == [column]) or (test == "not_null" and column in key):
            found.append(node["name"])
    return sorted(found)


def downstream(tables: set[str], manifest: dict | None = None) -> tuple[list[str], set[str]]:
    """The dbt models to rebuild when ``tables`` (``raw.<name>``) received rows, and their relations.

    That is every model downstream of those sources, of the models that read the build date and of
    the seeds (never changed here: the fingerprint covers them), in the manifest's order.
    """
    if manifest is None:
        manifest = project_manifest()
    nodes, sources, children = manifest["nodes"], manifest["sources"], manifest["child_map"]
    start = [
        uid
        for uid, source in sources.items()
        if f"{source['schema']}.{source.get('identifier') or source['name']}" in tables
    ]
    as_of_macros = {AS_OF_MACRO}  # the macro and every macro that calls it, however indirectly
    macros = manifest.get("macros", {})
    while grown := {
        uid
        for uid, macro in macros.items()
        if uid not in as_of_macros and as_of_macros & set(macro.get("depends_on", {}).get("macros", []))
    }:
        as_of_macros |= grown
    start += [
        uid
        for uid, node in nodes.items()
        if node["resource_type"] == "model" and as_of_macros & set(node.get("depends_on", {}).get("macros", []))
    ]
    seen: set[str] = set()
    while start:
        uid = start.pop()
        for child in children.get(uid, []):
            if child not in seen and nodes.get(child, {}).get("resource_type") == "model":
                seen.add(child)
                start.append(child)
        if uid in nodes:
            seen.add(uid)
    models = sorted(nodes[uid]["name"] for uid in seen)
    relations = {
        f"{nodes[uid]['schema']}.{nodes[uid].get('alias') or nodes[uid]['name']}"
        for uid in seen
        if nodes[uid]["config"].get("materialized") != "ephemeral"
    }
    return models, relations


class BaseCopy:
    """The published release's file copied to a build's ``target`` in a background thread, started before
    the lake is inventoried and the plan made (the copy of a province release takes about 4 s).

    :meth:`wait` tells whether the copy is the plan's base; a full plan calls :meth:`discard`."""

    def __init__(self, paths: Paths, target: Path) -> None:
        from ingest.warehouse import current_release

        self.run_id = current_release(paths)
        self.target = target
        self._error: OSError | None = None
        self._thread: threading.Thread | None = None
        if self.run_id is not None:
            source = paths.releases / self.run_id / WAREHOUSE_FILE_NAME
            self._thread = threading.Thread(target=self._copy, args=(source,), name="base-copy", daemon=True)
            self._thread.start()

    def _copy(self, source: Path) -> None:
        try:
            shutil.copyfile(source, self.target)
        except OSError as error:  # reported by wait(), which makes the copy again
            self._error = error

    def wait(self, run_id: str | None) -> bool:
        """Wait for the copy; ``True`` when ``target`` now holds release ``run_id``, else it is removed."""
        if self._thread is not None:
            self._thread.join()
        if self._thread is None or self._error is not None or self.run_id != run_id:
            if self._error is not None:
                log.warning("copying release %s in the background failed: %s", self.run_id, self._error)
            self.target.unlink(missing_ok=True)
            return False
        return True

    def discard(self) -> None:
        self.wait(None)


def start_from_release(
    paths: Paths, plan: Plan, target: Path, files: Inventory, con_config: dict, copied: BaseCopy | None = None
) -> dict[str, int]:
    """Copy the base release to ``target`` (unless ``copied`` already did) and append the plan's new lake
    files. Returns rows added per table."""
    release = paths.releases / str(plan.base_run_id) / WAREHOUSE_FILE_NAME
    if copied is None or not copied.wait(plan.base_run_id):
        shutil.copyfile(release, target)
    # the documentation and dbt's parse of an unchanged project: the release's (dbt checks the parse
    # against the project's files and reparses what changed, so a stale one costs time, never correctness)
    for kept, name in (("docs.html", "static_index.html"), (DBT_PARSE_FILE, DBT_PARSE_FILE)):
        if release.with_name(kept).exists():
            (target.parent / "target").mkdir(exist_ok=True)
            shutil.copyfile(release.with_name(kept), target.parent / "target" / name)
    added: dict[str, int] = {}
    added_files: list[str] = []
    with duckdb.connect(str(target), config=con_config) as con:
        for table, names in plan.new_files.items():
            folder = paths.lake / lake.LAKE_TABLES[table][0]
            before = con.execute(f"select count(*) from {table}").fetchall()[0][0]
            lake.insert_files(con, table, [folder / name for name in names])
            added[table] = con.execute(f"select count(*) from {table}").fetchall()[0][0] - before
            if table == "raw.submissions" and names:  # a lake file holds one received file or a segment of them
                added_files = [
                    sha
                    for (sha,) in con.execute(
                        "select distinct file_sha256 from read_parquet(?)", [[str(folder / n) for n in names]]
                    ).fetchall()
                ]
        (base_as_of,) = con.execute("select max(as_of_date) from marts.fct_reporting_completeness").fetchall()[0]
        # the base's inventory holds the rest of ``files`` (the plan checked every entry): append to it
        arrived = {table: {name: files[table][name] for name in names} for table, names in plan.new_files.items()}
        record(con, plan, arrived, base_as_of, append=True, added_files=added_files)
    return added


def record(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    files: Inventory,
    base_as_of: date | None = None,
    append: bool = False,
    added_files: list[str] | None = None,
) -> None:
    """Keep in the build what it holds (its lake files) and how it was made, for the next incremental build.

    ``append``: ``files`` are the lake files added to the inventory the build already holds (its base's).

    For the incremental models, also what this build added to its base: the received files whose
    submission rows it appended (``audit.build_added_files``, empty in a full build) and the as-of
    date the base's marts were judged at (``base_as_of_date``: expected submissions that fell due since
    then change the roll-up's counts). ``added_files``: the SHA-256 of those received files.
    """
    inputs = pa.table(
        {
            "table_name": [t for t, entries in files.items() for _ in entries],
            "file_name": [n for entries in files.values() for n in entries],
            "size_bytes": [s for entries in files.values() for s, _ in entries.values()],
            "mtime_ns": [m for entries in files.values() for _, m in entries.values()],
        },
        schema=pa.schema(
            [
                ("table_name", pa.string()),
                ("file_name", pa.string()),
                ("size_bytes", pa.int64()),
                ("mtime_ns", pa.int64()),
            ]
        ),
    )
    info = pa.table(
        {
            "mode": [plan.mode],
            "reason": [plan.reason],
            "fingerprint": [plan.fingerprint],
            "base_run_id": [plan.base_run_id],
            "new_files": [sum(len(v) for v in plan.new_files.values())],
            "base_as_of_date": pa.array([base_as_of], pa.date32()),
        }
    )
    added = pa.table({"file_sha256": pa.array(sorted(added_files or []), pa.string())})
    con.execute("create schema if not exists audit")
    for table, data in ((INPUTS_TABLE, inputs), (INFO_TABLE, info), (ADDED_FILES_TABLE, added)):
        con.register("incoming", data)
        if append and table == INPUTS_TABLE:
            con.execute(f"insert into {table} select * from incoming")
        else:
            con.execute(f"create or replace table {table} as select * from incoming")
        con.unregister("incoming")
