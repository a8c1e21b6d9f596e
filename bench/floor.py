"""Run the floor (``bench/floor.sql``): one hand-written DuckDB script over the generated files.

DuckDB's CSV reader reads UTF-8, UTF-16 and Latin-1 only (GB18030 needs the ``encodings`` extension,
which the floor does not use), so the worker records that arrive in GB18030 are first copied to UTF-8 in
a scratch folder, block by block - the same step the pipeline's ingest takes (``ingest.microdata``).
That copy is part of the floor's work and of its time.

Before the core marts, :func:`load_microdata` loads the microdata no core mart reads (trainings,
certifications, enterprises, the survey, wages) as plain text tables: the pipeline loads every file, and
so does the floor the issue measured ("loads plus the core marts").
"""

from __future__ import annotations

import codecs
import tempfile
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

FLOOR_SQL = Path(__file__).with_name("floor.sql")
FLOOR_TABLES = ("floor_observation_current", "floor_target_progress", "floor_completeness", "floor_skill_pyramid")
# The microdata no core mart reads, with the title rows above their header. The floor loads them as a
# hand-written script loads a CSV (every cell as text, no cleaning, no checks), because the pipeline
# loads them too: the floor is "loads plus the core marts" over all the input files.
LOADED_KINDS = {"enterprises": 0, "trainings": 0, "certifications": 1, "survey_responses": 0, "wages": 1}
DISCLOSURE_K = 5  # dbt var stats_disclosure_k
BLOCK = 1 << 20


def shanghai_today() -> date:
    """The pipeline's default as-of date: today in Asia/Shanghai."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(BLOCK), b""):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def utf8_copy(source: Path, target: Path, encoding: str = "gb18030") -> Path:
    """``source`` (GB18030, a superset of GBK) re-encoded as UTF-8 at ``target``, block by block."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    with source.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        for block in iter(lambda: src.read(BLOCK), b""):
            dst.write(decoder.decode(block))
        dst.write(decoder.decode(b"", final=True))
    return target


def microdata_files(data_dir: Path, kind: str) -> list[Path]:
    return sorted((Path(data_dir) / "inbox" / "microdata" / kind).glob("*.csv"))


def utf8_files(data_dir: Path, kind: str, scratch: Path) -> list[Path]:
    """The files of one microdata kind in name order, GB18030 ones replaced by UTF-8 copies under
    ``scratch`` (same file names: the floor orders the files by name)."""
    return [p if is_utf8(p) else utf8_copy(p, scratch / p.name) for p in microdata_files(data_dir, kind)]


def load_microdata(con: duckdb.DuckDBPyConnection, data_dir: Path, scratch_dir: Path | None = None) -> dict[str, int]:
    """Load the microdata of :data:`LOADED_KINDS` into ``floor_load_<kind>`` (GB18030 files through a
    UTF-8 copy, as for the worker records); returns their row counts."""
    counts = {}
    with tempfile.TemporaryDirectory(prefix="floor-load-", dir=scratch_dir) as scratch:
        for kind, title_rows in LOADED_KINDS.items():
            files = utf8_files(data_dir, kind, Path(scratch))
            if not files:
                continue
            con.execute("set variable load_files = ?::varchar[]", [[str(p.resolve()) for p in files]])
            con.execute(
                f"create or replace table floor_load_{kind} as select * from read_csv(getvariable('load_files'), "
                f"header = true, skip = {title_rows}, all_varchar = true, null_padding = true, strict_mode = false)"
            )
            counts[f"floor_load_{kind}"] = con.execute(f"select count(*) from floor_load_{kind}").fetchall()[0][0]
    return counts


def run_floor(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    seeds_dir: Path,
    as_of: date | None = None,
    received_on: date | None = None,
    scratch_dir: Path | None = None,
    disclosure_k: int = DISCLOSURE_K,
) -> dict[str, int]:
    """Create the ``floor_*`` tables on ``con`` from the files under ``data_dir`` and the seeds in
    ``seeds_dir``; returns their row counts. ``as_of`` must be the pipeline's as-of date (the day its
    build ran, in Shanghai; default: today there), ``received_on`` the day its ingest received the
    worker records (default: ``as_of``; see :func:`bench.compare.pipeline_dates`). ``scratch_dir``
    receives the UTF-8 copies (default: a temporary folder, removed afterwards)."""
    as_of = as_of or shanghai_today()
    received_on = received_on or as_of
    with tempfile.TemporaryDirectory(prefix="floor-", dir=scratch_dir) as scratch:
        workers = utf8_files(Path(data_dir), "workers", Path(scratch))
        if not workers:
            raise FileNotFoundError(f"no worker records under {data_dir}/inbox/microdata/workers")
        con.execute("set variable data_dir = ?", [str(Path(data_dir).resolve())])
        con.execute("set variable seeds_dir = ?", [str(Path(seeds_dir).resolve())])
        con.execute("set variable workers_files = ?::varchar[]", [[str(p.resolve()) for p in workers]])
        con.execute("set variable as_of_date = ?::date", [as_of])
        con.execute("set variable received_on = ?::date", [received_on])
        con.execute("set variable disclosure_k = ?::integer", [disclosure_k])
        con.execute(FLOOR_SQL.read_text(encoding="utf-8"))
    return {table: con.execute(f"select count(*) from {table}").fetchall()[0][0] for table in FLOOR_TABLES}
