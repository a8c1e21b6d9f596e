"""Forms committed together as one lake segment: the same lake as one file at a time, in a few files."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ingest import intake, lake
from ingest.config import Paths
from ingest.intake import ingest_batch, ingest_file, ingest_parallel, sha256_of

HEADER = "单位代码,报告期,指标代码,数值,备注\n"
ROW = '530700-ZGH,2025年第{quarter}季度,{indicator},"{value}",{note}\n'


def form(quarter: str, value: str, indicator: str = "vocational_training_person_times", note: str = "") -> str:
    return HEADER + ROW.format(quarter=quarter, indicator=indicator, value=value, note=note)


def forms(folder, count: int = 6) -> list:
    """Forms of every outcome: loaded, loaded with a refused row, all rows refused, unreadable."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = [form("一二三四"[i % 4], str(10 + i)) for i in range(count)]
    texts.append(form("一", "abc") + ROW.format(quarter="二", indicator="enterprise_unions", value="7", note=""))
    texts.append(form("一", "5", indicator="no_such_indicator"))
    texts.append(form("一", "8", note="联系人身份证 11010519491231002X"))  # an ID number in a note
    paths = []
    for index, text in enumerate(texts):
        path = folder / f"form{index:02}.csv"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    broken = folder / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04\x14\x00broken")
    return [*paths, broken]


def warehouse_rows(home: Paths) -> dict[str, list[tuple]]:
    """Every row a build loads from the lake, per table, in a stable order."""
    with duckdb.connect() as con:
        lake.load_into(con, home.lake)
        return {
            table: con.execute(f"select * from {table} order by all").fetchall()
            for table in ("raw.submissions", "raw.quarantine", "raw.ingest_files")
        }


@pytest.fixture
def times():
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    return [start + timedelta(seconds=i) for i in range(20)]


def test_a_segment_holds_exactly_what_one_file_at_a_time_would(tmp_path, times):
    files = forms(tmp_path / "inbox")
    one, together = Paths.from_env(tmp_path / "one"), Paths.from_env(tmp_path / "together")
    singles = [ingest_file(f, one, now=t) for f, t in zip(files, times, strict=False)]
    batch = ingest_batch(files, together, received_at=times[: len(files)])

    untimed = {"lake_name": None, "seconds": 0.0, "cpu_seconds": 0.0}  # a batch times its files; ingest_file does not
    strip = [o.as_dict() | untimed for o in singles]
    assert [o.as_dict() | untimed for o in batch] == strip
    assert all(o.seconds > 0 and o.cpu_seconds >= 0 for o in batch)
    assert {o.status for o in batch} == {"loaded", "loaded_with_quarantine", "rejected"}
    assert warehouse_rows(together) == warehouse_rows(one)
    assert not any(b"11010519491231002X" in p.read_bytes() for p in together.lake.rglob("*.parquet"))

    # one file of each kind for the whole batch, named after it; every loaded outcome names it
    [segment] = {o.lake_name for o in batch}
    assert segment.startswith(lake.SEGMENT_PREFIX)
    for folder in ("raw/submissions", "audit/quarantine", "audit/ingest_files"):
        assert [p.name for p in (together.lake / folder).glob("*.parquet")] == [f"{segment}.parquet"]
    for outcome in batch:
        assert lake.is_ingested(together.lake, outcome.sha256)
        assert lake.read_marker(together.lake, outcome.sha256)["file_name"] == outcome.file_name


def test_the_same_bytes_in_a_batch_or_again_later_are_one_load(tmp_path, times):
    paths = Paths.from_env(tmp_path / "home")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first, copy, other = (inbox / "a.csv", inbox / "copy.csv", inbox / "b.csv")
    for path, value in ((first, "5"), (copy, "5"), (other, "6")):
        path.write_text(form("一", value), encoding="utf-8")

    outcomes = ingest_batch([first, copy, other], paths, received_at=times[:3])
    assert [o.status for o in outcomes] == ["loaded", "duplicate", "loaded"]
    assert "a.csv" in outcomes[1].error
    snapshot = sorted(p.name for p in paths.lake.rglob("*.parquet"))

    later = ingest_batch([copy, first], paths, consume=True)  # a re-run: nothing new
    assert [o.status for o in later] == ["duplicate", "duplicate"]
    assert all("a.csv" in o.error for o in later)
    assert sorted(p.name for p in paths.lake.rglob("*.parquet")) == snapshot
    assert not copy.exists() and not first.exists() and other.exists()  # consumed only when asked
    assert len(warehouse_rows(paths)["raw.submissions"]) == 2


def test_a_batch_reads_again_a_file_rejected_under_another_name(tmp_path, times):
    paths = Paths.from_env(tmp_path / "home")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    text = form("一", "5")
    (inbox / "a.txt").write_text(text, encoding="utf-8")
    (inbox / "b.csv").write_text(form("二", "6"), encoding="utf-8")
    first = ingest_batch([inbox / "a.txt", inbox / "b.csv"], paths, received_at=times[:2])
    assert [(o.status, o.error_reason) for o in first] == [("rejected", "unsupported_type"), ("loaded", None)]

    (inbox / "a.txt").rename(inbox / "a.csv")
    again = ingest_batch([inbox / "a.csv", inbox / "b.csv"], paths, received_at=times[2:4])
    assert [o.status for o in again] == ["loaded", "duplicate"]
    assert sorted(r[8] for r in warehouse_rows(paths)["raw.submissions"]) == [5.0, 6.0]
    # one audit record per received file: the rejection's went with its segment's rewrite
    records = sorted((r["file_name"], r["status"]) for r in lake.read_markers(paths.lake))
    assert records == [("a.csv", "loaded"), ("b.csv", "loaded")]


def test_the_same_bytes_rejected_then_renamed_in_one_batch_load_as_one_at_a_time_would(tmp_path, times):
    paths = Paths.from_env(tmp_path / "home")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.txt", "a.csv"):
        (inbox / name).write_text(form("一", "5"), encoding="utf-8")
    outcomes = ingest_batch([inbox / "a.txt", inbox / "a.csv"], paths, consume=True, received_at=times[:2])
    assert [o.status for o in outcomes] == ["rejected", "loaded"]
    assert [(r["file_name"], r["status"]) for r in lake.read_markers(paths.lake)] == [("a.csv", "loaded")]
    assert [r[8] for r in warehouse_rows(paths)["raw.submissions"]] == [5.0]
    assert [p.suffix for p in paths.archive.glob(f"{outcomes[1].sha256}*")] == [".csv"]


def _two_form_segment(tmp_path, times, second: str) -> tuple[Paths, Path, list]:
    """A home whose one segment holds a.txt (rejected: its suffix) and ``second`` (another form)."""
    paths = Paths.from_env(tmp_path / "home")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_text(form("一", "5"), encoding="utf-8")
    (inbox / second).write_text(form("二", "6"), encoding="utf-8")
    return paths, inbox, ingest_batch([inbox / "a.txt", inbox / second], paths, received_at=times[:2])


def test_a_removal_that_died_before_dropping_its_pointer_is_finished_by_the_next_reading(tmp_path, times):
    paths, inbox, [rejected, _] = _two_form_segment(tmp_path, times, "b.csv")
    segment = lake.segment_of(paths.lake, rejected.sha256)
    pointer = paths.lake / lake.SEGMENTS_FOLDER / rejected.sha256
    saved = pointer.read_bytes()
    lake.remove_file_outputs(paths.lake, rejected.sha256)
    pointer.write_bytes(saved)  # as if the process died after rewriting the segment, before the unlink
    assert lake.segment_of(paths.lake, rejected.sha256) == segment  # the pointer alone still says "received"

    assert lake.prior_receipt(paths.lake, rejected.sha256) is None and not pointer.exists()
    (inbox / "a.txt").rename(inbox / "a.csv")
    [again] = ingest_batch([inbox / "a.csv"], paths, received_at=times[2:3])
    assert again.status == "loaded"
    assert sorted(r["file_name"] for r in lake.read_markers(paths.lake)) == ["a.csv", "b.csv"]


def test_a_segment_is_rewritten_by_one_process_at_a_time(tmp_path, times):
    paths, _, [first, _] = _two_form_segment(tmp_path, times, "b.txt")
    segment = lake.segment_of(paths.lake, first.sha256)
    done = tmp_path / "removed"
    code = (
        "import sys; from pathlib import Path; from ingest import lake; "
        f"lake.remove_file_outputs(Path({str(paths.lake)!r}), {first.sha256!r}); Path({str(done)!r}).touch()"
    )
    with lake.segment_lock(paths.lake, segment):  # another process rewriting the segment
        child = subprocess.Popen([sys.executable, "-c", code])
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=3)
        assert not done.exists(), "the rewrite did not wait for the segment's lock"
    assert child.wait(timeout=60) == 0 and done.exists()
    assert [r["file_name"] for r in lake.read_markers(paths.lake)] == ["b.txt"]


def test_a_batch_that_fails_before_its_commit_leaves_nothing_loaded_and_is_redone(tmp_path, monkeypatch, times):
    paths = Paths.from_env(tmp_path / "home")
    files = forms(tmp_path / "inbox", count=3)
    real = lake.write_records

    def disk_full_at_the_commit(path, records, schema, **kwargs):
        if path.parent.name == "ingest_files":
            raise OSError(28, "No space left on device")
        return real(path, records, schema, **kwargs)

    monkeypatch.setattr(lake, "write_records", disk_full_at_the_commit)
    with pytest.raises(OSError, match="No space"):
        ingest_batch(files, paths, consume=True, received_at=times[: len(files)])
    assert all(f.exists() for f in files)  # nothing consumed
    assert (paths.lake / "raw" / "submissions").exists()  # the rows were written, the commit was not
    assert not any(lake.is_ingested(paths.lake, sha256_of(f)) for f in files)
    assert warehouse_rows(paths) == {"raw.submissions": [], "raw.quarantine": [], "raw.ingest_files": []}

    monkeypatch.setattr(lake, "write_records", real)
    outcomes = ingest_batch(files, paths, consume=True, received_at=times[: len(files)])
    assert "duplicate" not in {o.status for o in outcomes}
    rows = warehouse_rows(paths)
    assert len(rows["raw.ingest_files"]) == len(files)
    assert len(rows["raw.submissions"]) == sum(o.rows_accepted for o in outcomes)


def test_reprocessing_a_file_of_a_segment_replaces_only_its_rows(tmp_path, request, times):
    paths = Paths.from_env(tmp_path / "home")
    files = forms(tmp_path / "inbox", count=4)
    outcomes = ingest_batch(files, paths, received_at=times[: len(files)])
    before = warehouse_rows(paths)
    q1 = [o for o in outcomes if o.period_id == "2025-Q1" and o.status == "loaded"]
    assert q1

    request.getfixturevalue("parser_fix")  # values are now read ten times larger
    reprocessed = intake.reprocess(paths, "2025Q1", "2025Q1")
    assert {o.sha256 for o in reprocessed} >= {o.sha256 for o in q1}
    after = warehouse_rows(paths)
    changed = {o.sha256 for o in reprocessed}
    assert len(after["raw.ingest_files"]) == len(before["raw.ingest_files"])  # each file once, still
    assert sorted(r for r in after["raw.ingest_files"] if r[0] not in changed) == sorted(
        r for r in before["raw.ingest_files"] if r[0] not in changed
    )
    old = {r[0]: r[8] for r in before["raw.submissions"] if r[0] in changed}
    new = {r[0]: r[8] for r in after["raw.submissions"] if r[0] in changed}
    assert new == {sha: value * 10 for sha, value in old.items()}
    untouched = [r for r in before["raw.submissions"] if r[0] not in changed]
    assert [r for r in after["raw.submissions"] if r[0] not in changed] == untouched
    for outcome in reprocessed:  # now on its own, out of the segment
        assert lake.segment_of(paths.lake, outcome.sha256) is None
        assert lake.read_marker(paths.lake, outcome.sha256)["file_name"] == outcome.file_name


def test_parallel_batches_given_the_same_bytes_load_it_once(tmp_path):
    """Several copies of one form spread over two workers' batches: the lock of its hash, held from the
    check to the commit, makes one of them a load and the others duplicates."""
    paths = Paths.from_env(tmp_path / "home")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    files = []
    for index in range(40):
        path = inbox / f"f{index:02}.csv"
        value = "99" if index % 5 == 0 else str(index)  # eight copies of one form, spread out
        path.write_text(form("一二三四"[index % 4], value) if index % 5 else form("一", value), encoding="utf-8")
        files.append(path)
    outcomes = list(ingest_parallel(files, paths, jobs=2))
    copies = [o for i, o in enumerate(outcomes) if i % 5 == 0]
    assert sorted(o.status for o in copies) == ["duplicate"] * 7 + ["loaded"]
    assert all(o.status == "loaded" for i, o in enumerate(outcomes) if i % 5)
    assert len({o.lake_name for o in outcomes if o.status == "loaded"}) > 1  # several segments
    rows = warehouse_rows(paths)
    assert len(rows["raw.submissions"]) == 33 and len(rows["raw.ingest_files"]) == 33


def test_the_inbox_leaves_files_still_being_uploaded(reform_home, monkeypatch):
    """A file whose name says it is still uploading is never listed; with REFORM_INBOX_SETTLE_SECONDS
    a file changed in the last seconds (an upload paused with the file open) waits for the next run."""
    import os
    import time

    from ingest import tasks

    paths = Paths.from_env().ensure()
    done = paths.inbox / "a.csv"
    done.write_text(form("一", "1"), encoding="utf-8")
    os.utime(done, (time.time() - 120, time.time() - 120))
    for name in ("b.csv.part", "c.csv.filepart", ".d.csv", "e.CSV.TMP"):
        (paths.inbox / name).write_text(form("一", "2"), encoding="utf-8")
    arriving = paths.inbox / "f.csv"
    arriving.write_text(form("一", "3")[:40], encoding="utf-8")  # half written, just now

    assert tasks.list_inbox() == [str(done), str(arriving)]  # settle time 0: every complete-named file
    monkeypatch.setenv("REFORM_INBOX_SETTLE_SECONDS", "60")
    assert tasks.list_inbox() == [str(done)]
    assert tasks.settled([arriving], now=time.time() + 61) == [arriving]  # a minute later it is taken


def test_airflow_ingests_the_inbox_a_batch_a_task_and_a_retry_skips_what_was_consumed(reform_home, monkeypatch, caplog):
    from ingest import tasks

    monkeypatch.setattr(intake, "SEGMENT_FILES", 4)
    paths = Paths.from_env().ensure()
    for index in range(10):
        (paths.inbox / f"f{index:02}.csv").write_text(form("一", str(index)), encoding="utf-8")
    (paths.inbox / "microdata" / "wages").mkdir(parents=True)
    wages = paths.inbox / "microdata" / "wages" / "wages_2025.csv"
    wages.write_text("职业编码,职业名称,技能等级,行政区划代码,年份,月平均工资,人数\n", encoding="utf-8")

    batches = tasks.list_inbox_batches("submissions")
    assert [len(b) for b in batches] == [4, 4, 2]
    assert tasks.list_inbox_batches("microdata") == [[str(wages)]]

    first = tasks.ingest_many(batches[0])
    assert [o["status"] for o in first] == ["loaded"] * 4
    assert len({o["lake_name"] for o in first}) == 1
    assert not any(Path(p).exists() for p in batches[0])  # consumed
    retried = tasks.ingest_many(batches[0] + batches[1])  # the first batch's files are gone already
    assert [o["status"] for o in retried] == ["already_processed"] * 4 + ["loaded"] * 4
    assert tasks.validate_landed(first + retried)["files"] == 8
    with caplog.at_level(logging.INFO, logger="ingest.tasks"):
        counts = tasks.summarize_ingest(first + retried)
    assert counts["loaded"] == 8 and counts["already_processed"] == 4
    [by_source] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("submissions:")]
    assert by_source.startswith("submissions: 8 files, 8 rows in ")


def test_a_retry_after_the_first_try_committed_reports_the_files_as_landed(reform_home, monkeypatch):
    """The first try commits its segment, then fails before removing the files from the inbox: its retry
    finds them as duplicates, yet they landed in this run; reported as loaded, they are checked and the
    reform_lake event is sent. A file sent again later stays a duplicate."""
    from ingest import tasks

    paths = Paths.from_env().ensure()
    batch = []
    for index in range(3):
        batch.append(paths.inbox / f"f{index}.csv")
        batch[-1].write_text(form("一", str(index)), encoding="utf-8")
    real = lake.write_segment

    def commits_then_fails(*args, **kwargs):
        real(*args, **kwargs)
        raise OSError("the worker lost its disk after the commit")

    monkeypatch.setattr(lake, "write_segment", commits_then_fails)
    with pytest.raises(OSError):
        tasks.ingest_many([str(f) for f in batch])
    monkeypatch.setattr(lake, "write_segment", real)
    assert all(f.exists() for f in batch)  # not consumed

    retried = tasks.ingest_many([str(f) for f in batch])
    assert [o["status"] for o in retried] == ["loaded"] * 3
    assert len({o["lake_name"] for o in retried}) == 1 and retried[0]["rows_accepted"] == 1
    assert not any(f.exists() for f in batch)
    assert tasks.validate_landed(retried)["files"] == 3
    assert tasks.summarize_ingest(retried)["loaded"] == 3  # NothingNew not raised: the event is sent

    again = paths.inbox / "sent_again.csv"
    again.write_text(form("一", "0"), encoding="utf-8")  # f0's bytes, another day
    [outcome] = tasks.ingest_many([str(again)])
    assert outcome["status"] == "duplicate"
    # a form alone in its batch (a segment of one), sent again under its name in a later run
    alone = paths.inbox / "alone.csv"
    alone.write_text(form("一", "9"), encoding="utf-8")
    assert [o["status"] for o in tasks.ingest_many([str(alone)])] == ["loaded"]
    alone.write_text(form("一", "9"), encoding="utf-8")
    assert [o["status"] for o in tasks.ingest_many([str(alone)])] == ["duplicate"]
    assert not list((paths.lake / ".inflight").iterdir()), "no note left by a finished try"


def test_a_retry_of_a_task_killed_after_its_batch_was_done_returns_what_it_did(reform_home):
    """Found by an Airflow campaign: an ingest task killed after its batch was done, before Airflow
    recorded its success, was retried; the retry found its files gone and called them
    already_processed, so the run checked none of them and sent no reform_lake event. A task's note now
    keeps its outcomes: its retry returns them again; another task of the same paths does not."""
    import os
    import time

    from ingest import tasks

    paths = Paths.from_env().ensure()
    batch = []
    for index in range(3):
        batch.append(str(paths.inbox / f"f{index}.csv"))
        Path(batch[-1]).write_text(form("一", str(index)), encoding="utf-8")
    key = "reform_ingest/scheduled__2026-01-05T02:00:00+00:00/0"

    first = tasks.ingest_many(batch, task_key=key)
    assert [o["status"] for o in first] == ["loaded"] * 3
    retried = tasks.ingest_many(batch, task_key=key)  # the kill came after: Airflow retries the task
    assert retried == first
    assert tasks.validate_landed(retried)["files"] == 3
    assert tasks.summarize_ingest(retried)["loaded"] == 3  # NothingNew not raised: the event is sent

    later_run = tasks.ingest_many(batch, task_key="reform_ingest/manual__2026-01-06/0")
    assert [o["status"] for o in later_run] == ["already_processed"] * 3

    notes = list((paths.lake / tasks.INFLIGHT).iterdir())
    assert len(notes) == 2
    day_old = time.time() - lake.STALE_SECONDS - 60
    os.utime(notes[0], (day_old, day_old))
    tasks.list_inbox_batches("submissions")  # a run's listing sweeps the notes a day old
    assert sorted((paths.lake / tasks.INFLIGHT).iterdir()) == sorted(notes[1:])
