"""Receiving files into the lake: archived untouched, idempotent by hash, never crashing on bad input."""

from __future__ import annotations

import json

import duckdb
import pytest

from ingest import intake, lake
from ingest.config import Paths
from ingest.generate import generate
from ingest.intake import inbox_files, ingest_file, ingest_paths, sha256_of

FORM = '单位代码,报告期,指标代码,数值\n530700-ZGH,2025年第一季度,vocational_training_person_times,"{value}"\n'


@pytest.fixture
def paths(reform_home) -> Paths:
    return Paths.from_env().ensure()


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def lake_rows(paths: Paths, folder: str) -> list[tuple]:
    files = sorted((paths.lake / folder).glob("*.parquet"))
    if not files:
        return []
    return duckdb.sql(f"select * from read_parquet({[str(f) for f in files]})").fetchall()


def test_a_file_lands_in_the_lake_and_is_archived_untouched(paths, tmp_path):
    source = write(tmp_path / "form.csv", FORM.format(value="1,234"), "gb18030")
    original = source.read_bytes()
    outcome = ingest_file(source, paths)
    assert (outcome.status, outcome.rows_accepted, outcome.rows_quarantined) == ("loaded", 1, 0)
    assert (outcome.reporting_unit_code, outcome.period_id) == ("530700-ZGH", "2025-Q1")
    assert (paths.archive / f"{outcome.sha256}.csv").read_bytes() == original
    [row] = lake_rows(paths, "raw/submissions")
    assert row[8] == 1234.0  # value
    assert row[0] == sha256_of(source)


def test_the_same_bytes_twice_change_nothing(paths, tmp_path):
    first = ingest_file(write(tmp_path / "a.csv", FORM.format(value="5")), paths)
    snapshot = sorted(p.name for p in paths.lake.rglob("*.parquet"))
    again = ingest_file(write(tmp_path / "copy.csv", FORM.format(value="5")), paths)
    assert again.status == "duplicate" and again.sha256 == first.sha256
    assert "a.csv" in again.error
    assert sorted(p.name for p in paths.lake.rglob("*.parquet")) == snapshot
    assert len(lake_rows(paths, "raw/submissions")) == 1


def test_a_resubmission_is_kept_beside_the_first_version(paths, tmp_path):
    ingest_file(write(tmp_path / "v1.csv", FORM.format(value="5")), paths)
    ingest_file(write(tmp_path / "v2.csv", FORM.format(value="6")), paths)
    values = sorted(row[8] for row in lake_rows(paths, "raw/submissions"))
    assert values == [5.0, 6.0]
    assert len(lake_rows(paths, "audit/ingest_files")) == 2


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.csv", b"", "empty_file"),
        ("notes.docx", b"PK\x03\x04 whatever", "unsupported_type"),
        ("broken.xlsx", b"PK\x03\x04\x14\x00broken", "corrupt_file"),
        ("binary.csv", b"\x00\x01\x02\xff\xfe" * 10, "bad_encoding"),
        ("nul.csv", b"a,b\x00\n1,2\n", "unsupported_type"),
        ("bad.json", b'{"records": 5}', "corrupt_file"),
        ("noheader.csv", b"hello,world\n1,2\n", "no_header"),
        # inputs the readers' own checks did not foresee once made the whole batch fail, every run
        ("meta_list.json", b'{"metadata": ["x"], "records": [{"a": 1}]}', "corrupt_file"),
        ("meta_text.json", b'{"metadata": "abc", "records": [{"a": 1}]}', "corrupt_file"),
        ("long_number.json", b'[{"v": ' + b"1" * 5000 + b"}]", "corrupt_file"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "corrupt_file"),
        ("open_quote.csv", b'a,b\n"' + b"x" * 200_000 + b"\n", "corrupt_file"),
    ],
)
def test_bad_files_are_rejected_with_a_reason_and_archived(paths, tmp_path, name, content, reason):
    outcome = ingest_file(write(tmp_path / name, "") if not content else _write_bytes(tmp_path / name, content), paths)
    assert outcome.status == "rejected"
    assert outcome.error_reason == reason
    assert outcome.error  # a sentence for the sender
    assert lake.is_ingested(paths.lake, outcome.sha256)
    assert any(paths.archive.glob(f"{outcome.sha256}.*"))


def test_a_file_no_check_foresaw_is_rejected_alone_not_its_batch(paths, tmp_path, monkeypatch):
    """A reader bug or an input nobody foresaw fails that file (rejected, reason unreadable, archived), and
    the batch goes on; the machine's own errors (memory, disk) still fail the task, so its retry can help."""
    real = intake.process_tables

    def fails_on_poison(tables, *args):
        if any("poison" in cell for table in tables for row in table.rows for cell in row.cells):
            raise AttributeError("'list' object has no attribute 'items'")
        return real(tables, *args)

    monkeypatch.setattr(intake, "process_tables", fails_on_poison)
    good = write(tmp_path / "good.csv", FORM.format(value="5"))
    poison = write(tmp_path / "poison.csv", FORM.format(value="5") + "poison,,,\n")
    outcomes = {o.file_name: o for o in ingest_paths([good, poison], paths)}
    assert outcomes["good.csv"].status == "loaded"
    bad = outcomes["poison.csv"]
    assert (bad.status, bad.error_reason) == ("rejected", "unreadable")
    assert "AttributeError" in bad.error and "send it to the data team" in bad.error
    assert lake.is_ingested(paths.lake, bad.sha256) and any(paths.archive.glob(f"{bad.sha256}.*"))

    def out_of_memory(*args):
        raise MemoryError

    monkeypatch.setattr(intake, "process_tables", out_of_memory)
    with pytest.raises(MemoryError):
        ingest_file(write(tmp_path / "other.csv", FORM.format(value="7")), paths)


def test_a_file_rejected_for_its_name_loads_once_renamed(paths, tmp_path):
    text = FORM.format(value="5")
    rejected = ingest_file(write(tmp_path / "530700-ZGH_2025-Q1.txt", text), paths)
    assert (rejected.status, rejected.error_reason) == ("rejected", "unsupported_type")
    # the same bytes under the same name: the same verdict, nothing read again
    assert ingest_file(write(tmp_path / "530700-ZGH_2025-Q1.txt", text), paths).status == "duplicate"

    renamed = ingest_file(write(tmp_path / "530700-ZGH_2025-Q1.csv", text), paths)  # as the message said
    assert (renamed.status, renamed.rows_accepted, renamed.sha256) == ("loaded", 1, rejected.sha256)
    [record] = lake.read_markers(paths.lake)  # the rejection's record replaced, not a second one
    assert (record["file_name"], record["status"]) == ("530700-ZGH_2025-Q1.csv", "loaded")
    assert [row[8] for row in lake_rows(paths, "raw/submissions")] == [5.0]
    assert (paths.archive / f"{renamed.sha256}.csv").read_bytes() == text.encode()
    assert list(paths.archive.glob(f"{renamed.sha256}*")) == [paths.archive / f"{renamed.sha256}.csv"]  # not twice
    # loaded now: the same bytes under any name are a duplicate
    assert ingest_file(write(tmp_path / "again.txt", text), paths).status == "duplicate"


def test_the_inbox_tells_waiting_files_from_those_already_ingested(paths, monkeypatch):
    inbox = paths.inbox
    loaded = write(inbox / "loaded.csv", FORM.format(value="5"))
    rejected = write(inbox / "form.txt", FORM.format(value="6"))
    ingest_paths([inbox], paths)  # without consume: both stay in the inbox
    hashed = []
    monkeypatch.setattr(intake, "sha256_of", lambda path: hashed.append(path.name) or sha256_of(path))
    assert inbox_files(paths) == ([], [rejected, loaded])  # in the order the ingest takes them
    assert hashed == []  # unchanged since received under these names: not read again
    rejected.rename(inbox / "form.csv")  # as the rejection said: no longer a duplicate, so waiting
    new = write(inbox / "new.csv", FORM.format(value="7"))
    (inbox / "microdata" / "workers").mkdir(parents=True)
    roster = write(inbox / "microdata" / "workers" / "workers.csv", "公民身份号码,行政区划代码\n")
    assert inbox_files(paths) == ([inbox / "form.csv", roster, new], [loaded])


def _write_bytes(path, content: bytes):
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "signature", "kind", "advice"),
    [
        ("form.csv", b"PK\x03\x04", "(.xlsx)", "or send the workbook named .xlsx."),
        ("form.json", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "(.xls)", "or save it as .xlsx and send that."),
    ],
)
def test_a_workbook_named_as_text_is_told_what_it_is(paths, tmp_path, name, signature, kind, advice):
    outcome = ingest_file(_write_bytes(tmp_path / name, signature + b"\x14\x00\x06\x00binary" * 40), paths)
    assert (outcome.status, outcome.error_reason) == ("rejected", "unsupported_type")
    assert f"workbook {kind} named “{name[4:]}”" in outcome.error and outcome.error.endswith(advice)


def test_zip_bomb_is_refused_before_parsing(paths, tmp_path):
    import zipfile

    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (60 * 1024 * 1024))
    outcome = ingest_file(bomb, paths)
    assert (outcome.status, outcome.error_reason) == ("rejected", "zip_bomb")


def test_consume_removes_the_file_only_after_it_is_safe(paths, tmp_path):
    source = write(paths.inbox / "form.csv", FORM.format(value="5"))
    original = source.read_bytes()
    outcome = ingest_file(source, paths, consume=True)
    assert not source.exists()
    assert (paths.archive / f"{outcome.sha256}.csv").read_bytes() == original  # moved (linked), not copied


def test_without_consume_the_archive_is_a_copy_the_inbox_file_cannot_change(paths, tmp_path):
    source = write(tmp_path / "form.csv", FORM.format(value="5"))
    outcome = ingest_file(source, paths)
    archived = paths.archive / f"{outcome.sha256}.csv"
    assert not archived.samefile(source)
    source.write_text("changed afterwards", encoding="utf-8")
    assert sha256_of(archived) == outcome.sha256


def test_generated_corpus_reconciles_and_loses_nothing(paths):
    """For every file: received = accepted + quarantined, and every file is accounted for."""
    files = generate(paths.inbox)
    outcomes = ingest_paths([paths.inbox], paths, consume=True)
    assert len(outcomes) == len(files)
    assert not any(paths.inbox.iterdir())
    for outcome in outcomes:
        assert outcome.rows_received == outcome.rows_accepted + outcome.rows_quarantined
    statuses = {o.status for o in outcomes}
    assert {"loaded", "loaded_with_quarantine", "rejected", "duplicate"} <= statuses
    audit = duckdb.sql(
        "select sum(rows_accepted), sum(rows_quarantined) "
        f"from read_parquet('{paths.lake}/audit/ingest_files/*.parquet')"
    ).fetchall()[0]
    assert audit == (len(lake_rows(paths, "raw/submissions")), len(lake_rows(paths, "audit/quarantine")))
    reasons = {row[5] for row in lake_rows(paths, "audit/quarantine")}
    assert {"unknown_indicator", "not_a_number", "bad_period", "duplicate_row"} <= reasons


def test_generation_is_deterministic(tmp_path):
    first = {p.name: p.read_bytes() for p in generate(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in generate(tmp_path / "b")}
    assert first == second
    assert any(name.endswith(".xlsx") for name in first) and any(name.endswith(".json") for name in first)


def test_no_id_number_reaches_the_lake(paths, tmp_path):
    id_number = "11010519491231002X"
    text = "单位代码,报告期,指标代码,数值,备注\n"
    text += f"530700-ZGH,2025Q1,vocational_training_person_times,5,联系人{id_number}\n"
    text += f"530700-ZGH,2025Q1,no_such_indicator,5,{id_number}\n"
    ingest_file(write(tmp_path / "pii.csv", text), paths)
    for parquet in paths.lake.rglob("*.parquet"):
        assert id_number.encode() not in parquet.read_bytes()
        assert id_number not in str(duckdb.sql(f"select * from read_parquet('{parquet}')").fetchall())


def test_reprocess_rereads_archived_files_of_a_period_range_keeping_names_and_times(paths, tmp_path, request):
    from ingest import intake

    q1 = ingest_file(write(tmp_path / "q1.csv", FORM.format(value="5")), paths)
    q2 = ingest_file(write(tmp_path / "q2.csv", FORM.format(value="6").replace("第一季度", "第二季度")), paths)
    before = {r["file_sha256"]: r for r in lake.read_markers(paths.lake)}

    request.getfixturevalue("parser_fix")  # values are now read ten times larger
    outcomes = intake.reprocess(paths, "2025年第一季度", "2025Q1")
    assert [o.sha256 for o in outcomes] == [q1.sha256]
    after = {r["file_sha256"]: r for r in lake.read_markers(paths.lake)}
    assert after[q1.sha256]["received_at"] == before[q1.sha256]["received_at"]
    assert after[q1.sha256]["file_name"] == "q1.csv"
    values = {row[0]: row[8] for row in lake_rows(paths, "raw/submissions")}
    assert values == {q1.sha256: 50.0, q2.sha256: 6.0}


def test_a_rejected_file_reprocessed_keeps_the_type_it_was_sent_as(paths, tmp_path):
    """Archived as <sha256>.bin, a .docx read again is still a .docx: the same record, the same message."""
    first = ingest_file(write(tmp_path / "meeting_minutes.docx", "not a form\n"), paths)
    before = lake.read_marker(paths.lake, first.sha256)
    assert (before["file_format"], first.status) == ("docx", "rejected") and "“.docx”" in str(before["error"])
    intake.reprocess(paths, "*", "*")
    after = lake.read_marker(paths.lake, first.sha256)
    assert {k: after[k] for k in before} == before


def test_a_reprocess_that_dies_midway_is_finished_by_the_next_one(paths, tmp_path, monkeypatch):
    """A retry of a backfill redoes a file whose outputs were removed before the task died: it is no
    longer among the lake's records, so without the note of the re-reads begun it was lost for good."""
    from ingest import intake

    quarters = ((5, "第一季度"), (6, "第二季度"))
    forms = [FORM.format(value=str(v)).replace("第一季度", quarter) for v, quarter in quarters]
    for i, text in enumerate(forms):
        ingest_file(write(tmp_path / f"q{i + 1}.csv", text), paths)
    before = sorted((r["file_sha256"], r["file_name"], r["received_at"]) for r in lake.read_markers(paths.lake))
    rows_before = sorted(lake_rows(paths, "raw/submissions"))

    real, calls = lake.write_file_outputs, []

    def dies_on_the_second(*args, **kwargs):  # the task is killed after the old outputs went
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(lake, "write_file_outputs", dies_on_the_second)
    with pytest.raises(SystemExit):
        intake.reprocess(paths, "2025", "2025")
    assert len(lake.read_markers(paths.lake)) == 1  # the second file's record is gone with its outputs
    assert [r["file_name"] for r in lake.pending_reprocesses(paths.lake)] == ["q2.csv"]

    monkeypatch.setattr(lake, "write_file_outputs", real)
    outcomes = intake.reprocess(paths, "2025", "2025")  # the retry
    assert sorted(o.file_name for o in outcomes) == ["q1.csv", "q2.csv"]
    after = sorted((r["file_sha256"], r["file_name"], r["received_at"]) for r in lake.read_markers(paths.lake))
    assert after == before
    assert sorted(lake_rows(paths, "raw/submissions")) == rows_before
    assert lake.pending_reprocesses(paths.lake) == []


def _kill_a_reprocess_while_its_form_leaves_the_segment(paths, monkeypatch) -> str:
    """Two forms ingested as one segment; a reprocess killed after the segment's rows were rewritten
    without the first form and before its record was: the lake has the form's record but not its rows."""
    from ingest import intake

    real = lake.write_table

    def killed_before_the_records(path, *args, **kwargs):
        if path.parent.name == "ingest_files" and path.name.startswith("seg-"):
            raise SystemExit("killed")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(lake, "write_table", killed_before_the_records)
    with pytest.raises(SystemExit):
        intake.reprocess(paths, "2025Q1", "2025Q1")
    monkeypatch.setattr(lake, "write_table", real)
    [pending] = lake.pending_reprocesses(paths.lake)
    assert lake.prior_receipt(paths.lake, pending["file_sha256"])["rows_accepted"] == 1
    assert pending["file_sha256"] not in {row[0] for row in lake_rows(paths, "raw/submissions")}
    return str(pending["file_sha256"])


def test_a_reprocess_killed_midway_is_finished_before_an_ingest_or_a_build_reads_the_lake(paths, monkeypatch):
    import sys

    from ingest import status, warehouse

    inbox = paths.inbox
    q1 = write(inbox / "q1.csv", FORM.format(value="5"))
    write(inbox / "q2.csv", FORM.format(value="6").replace("第一季度", "第二季度"))
    ingest_paths([inbox], paths)  # one segment; both files stay in the inbox
    before = sorted(lake.read_markers(paths.lake), key=lambda r: r["file_name"])
    rows_before = sorted(lake_rows(paths, "raw/submissions"))

    sha = _kill_a_reprocess_while_its_form_leaves_the_segment(paths, monkeypatch)
    assert sha == sha256_of(q1)
    # the inbox's copy is not a new file: the status does not list it as waiting, and says what happened ...
    assert inbox_files(paths)[0] == []
    said: list[str] = []
    status.print_status(paths, said.append)
    assert "files waiting in the inbox: 0; 2 more already ingested" in said[1]
    assert said[2].startswith("reprocessing interrupted midway: 1 file(s) (e.g. q1.csv); the next ingest, build")
    # ... and the next ingest first finishes the reprocess, then finds it a duplicate (not a late arrival)
    [first, second] = ingest_paths([inbox], paths)
    assert (first.status, second.status) == ("duplicate", "duplicate")
    assert sorted(lake.read_markers(paths.lake), key=lambda r: r["file_name"]) == before
    assert sorted(lake_rows(paths, "raw/submissions")) == rows_before and not lake.pending_reprocesses(paths.lake)

    # a build finishes it too, before it loads the lake: here the reprocess died with the form's record
    # and rows both gone (it was taken out of the segment above, so it has files of its own now)
    monkeypatch.setattr(lake, "write_file_outputs", lambda *args, **kwargs: sys.exit("killed"))
    with pytest.raises(SystemExit):
        intake.reprocess(paths, "2025Q1", "2025Q1")
    monkeypatch.undo()
    assert [r["file_sha256"] for r in lake.pending_reprocesses(paths.lake)] == [sha]
    assert sha not in {r["file_sha256"] for r in lake.read_markers(paths.lake)}
    build, _ = warehouse.prepare(paths, "after-a-killed-reprocess")
    with duckdb.connect(str(build), read_only=True) as con:
        loaded = con.execute("select file_sha256, value from raw.submissions order by value").fetchall()
    assert loaded == [(sha, 5.0), (sha256_of(inbox / "q2.csv"), 6.0)]
    assert not lake.pending_reprocesses(paths.lake)


def test_temporary_files_of_killed_processes_are_swept_once_a_day_old(paths):
    """Found by a crash campaign: a killed microdata load left its temporary Parquet file (as large as
    the file) for good. A build sweeps those not written for a day, never a running process's."""
    import os
    import time

    day_old = time.time() - lake.STALE_SECONDS - 60
    stale = [
        paths.lake / "raw" / "trainings" / ".abc.parquet.4242.tmp",  # a microdata load's
        paths.lake / "raw" / "submissions" / ".tmp-4242-1-seg-x.parquet",  # a segment's
        paths.archive / ".tmp-4242-abc",  # an archive copy's
        paths.warehouse_dir / ".exports-new-r9" / "fct_x.parquet",  # a rollback's exports
    ]
    fresh = paths.lake / "raw" / "trainings" / ".def.parquet.4243.tmp"  # a load running now
    kept = paths.lake / "raw" / "trainings" / "abc.parquet"  # a committed file, however old
    for path in [*stale, fresh, kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    for path in [*stale, kept, stale[-1].parent]:
        os.utime(path, (day_old, day_old))
    intake.finish_interrupted_writes(paths)
    assert [p.exists() for p in stale] == [False] * 4 and not stale[-1].parent.exists()
    assert fresh.exists() and kept.exists()


def test_a_reprocess_whose_read_fails_keeps_the_old_outputs(paths, tmp_path, monkeypatch):
    from ingest import intake

    ingest_file(write(tmp_path / "q1.csv", FORM.format(value="5")), paths)
    rows_before = lake_rows(paths, "raw/submissions")

    def out_of_memory(*args):
        raise MemoryError

    monkeypatch.setattr(intake, "process_tables", out_of_memory)
    with pytest.raises(MemoryError):
        intake.reprocess(paths, "2025", "2025")
    assert len(lake.read_markers(paths.lake)) == 1 and lake_rows(paths, "raw/submissions") == rows_before


def test_period_ranges():
    from ingest.intake import period_in_range

    assert period_in_range("2025-Q1", "2025", "2025")
    assert period_in_range("2025-M03", "2025Q1", "2025Q1")
    assert not period_in_range("2025-M04", "2025Q1", "2025Q1")
    assert not period_in_range("2025", "2025Q1", "2025Q3")  # a year is wider than three quarters
    assert period_in_range("2024-S2", "*", "2024")
    assert not period_in_range("2026", "*", "2025")


def test_hostile_file_and_sheet_names_are_only_data(paths, tmp_path):
    from openpyxl import Workbook

    name = "x'); drop table raw.submissions; --.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.title = "'; drop table t; --"
    sheet.append(["单位代码", "报告期", "指标代码", "数值"])
    sheet.append(["530700-ZGH", "2025Q1", "vocational_training_person_times", 5])
    book.save(tmp_path / name)
    outcome = ingest_file(tmp_path / name, paths)
    assert outcome.status == "loaded"
    assert {p.name for p in paths.archive.iterdir()} == {f"{outcome.sha256}.xlsx"}
    [row] = lake_rows(paths, "raw/submissions")
    assert row[1] == name and row[2] == "'; drop table t; --"


def test_an_id_number_in_a_file_or_sheet_name_never_reaches_the_lake(paths, tmp_path, monkeypatch):
    from openpyxl import Workbook

    id_number = "11010519491231002X"
    token = f"<id:{intake.make_pseudonymiser()(id_number)}>"
    book = Workbook()
    sheet = book.active
    sheet.title = f"{id_number}"
    sheet.append(["单位代码", "报告期", "指标代码", "数值"])
    sheet.append(["530700-ZGH", "2025Q1", "vocational_training_person_times", 5])
    sheet.append(["530700-ZGH", "2025Q1", "no_such_indicator", 5])  # quarantined: its record has the sheet too
    inbox = paths.inbox
    named = inbox / f"{id_number}_培训报表.xlsx"
    book.save(named)
    outcome = ingest_file(named, paths)
    assert (outcome.status, outcome.file_name) == ("loaded_with_quarantine", f"{token}_培训报表.xlsx")
    [record] = lake.read_markers(paths.lake)
    assert (record["file_name"], record["file_format"]) == (f"{token}_培训报表.xlsx", "xlsx")
    [row] = lake_rows(paths, "raw/submissions")
    assert row[1:3] == (f"{token}_培训报表.xlsx", token)  # file name, sheet
    for parquet in paths.lake.rglob("*.parquet"):
        assert id_number not in str(duckdb.sql(f"select * from read_parquet('{parquet}')").fetchall())

    # the name still tells the file apart: unchanged in the inbox, it is not read again
    hashed = []
    monkeypatch.setattr(intake, "sha256_of", lambda path: hashed.append(path.name) or sha256_of(path))
    assert inbox_files(paths) == ([], [named]) and hashed == []
    again = ingest_file(named, paths)
    assert again.status == "duplicate" and again.error.startswith(f"already ingested as {token}_培训报表.xlsx")
    # a reprocess keeps the recorded name (scrubbing a recorded name changes nothing)
    intake.reprocess(paths, "*", "*")
    assert lake.read_marker(paths.lake, outcome.sha256)["file_name"] == f"{token}_培训报表.xlsx"


def test_a_rejection_under_a_name_holding_a_phone_number_stays_a_duplicate_under_that_name(paths, tmp_path):
    text = FORM.format(value="5")
    rejected = ingest_file(write(tmp_path / "张工13800001111.txt", text), paths)
    assert (rejected.status, rejected.file_name) == ("rejected", "张工<phone>.txt")
    assert ingest_file(write(tmp_path / "张工13800001111.txt", text), paths).status == "duplicate"
    renamed = ingest_file(write(tmp_path / "张工13800001111.csv", text), paths)
    assert (renamed.status, renamed.file_name) == ("loaded", "张工<phone>.csv")


def test_a_file_over_the_configured_size_is_refused(paths, tmp_path, monkeypatch):
    monkeypatch.setenv("REFORM_MAX_FILE_MB", "0.0001")  # about 100 bytes
    outcome = ingest_file(write(tmp_path / "big.csv", FORM.format(value="5") * 5), paths)
    assert (outcome.status, outcome.error_reason) == ("rejected", "file_too_large")
    assert "limit" in outcome.error


def test_historical_load_takes_the_receipt_time_from_the_forms_date(paths, tmp_path):
    text = (
        "单位代码,报告期,指标代码,数值,填报日期\n530700-ZGH,2025Q1,vocational_training_person_times,5,2025年4月12日\n"
    )
    outcome = ingest_file(write(tmp_path / "old.csv", text), paths, historical=True)
    [record] = lake.read_markers(paths.lake)
    assert (record["received_at"].isoformat(), record["received_at_source"]) == ("2025-04-12T10:00:00", "form")
    [row] = lake_rows(paths, "raw/submissions")
    assert row[-1].isoformat() == "2025-04-12T10:00:00"  # 18:00 in Shanghai
    assert outcome.status == "loaded"


def test_without_historical_the_receipt_time_is_the_systems(paths, tmp_path):
    text = "单位代码,报告期,指标代码,数值,填报日期\n530700-ZGH,2025Q1,vocational_training_person_times,5,2025-04-12\n"
    ingest_file(write(tmp_path / "new.csv", text), paths)
    [record] = lake.read_markers(paths.lake)
    assert record["received_at_source"] == "system"
    assert record["received_at"].year >= 2026


def test_long_loads_report_progress(paths):
    from ingest.generate_microdata import generate_microdata

    [workers, *_] = [f for f in generate_microdata(paths.inbox / "microdata") if f.parent.name == "workers"]
    seen: list[tuple[str, float]] = []
    outcome = ingest_file(workers, paths, progress=lambda stage, fraction: seen.append((stage, fraction)))
    assert outcome.rows_accepted > 0
    stages = [stage for stage, _ in seen]
    assert {"read", "check", "write"} <= set(stages)
    assert all(0.0 <= fraction <= 1.0 for _, fraction in seen)


def test_lake_files_written_before_a_column_existed_still_load(paths):
    """A schema grows (new optional columns); files already in the lake keep loading, with nulls."""
    import pyarrow as pa

    old_schema = pa.schema([f for f in lake.RAW_SCHEMAS["submissions"] if f.name != "note"])
    row = {
        "file_sha256": "old",
        "file_name": "old.csv",
        "sheet": "csv",
        "row_number": 2,
        "reporting_unit_code": "530700-ZGH",
        "region_code": "530700",
        "period_id": "2024",
        "indicator_code": "skill_talents_total",
        "value": 1.0,
        "unit": "人",
        "obs_status": "normal",
        "raw_value": "1",
        "received_at": None,
    }
    lake.write_records(paths.lake / "raw" / "submissions" / "old.parquet", [row], old_schema)
    con = duckdb.connect()
    assert lake.load_into(con, paths.lake)["raw.submissions"] == 0  # not committed: no record file yet
    record = {"file_sha256": "old", "file_name": "old.csv", "source": "submissions", "status": "loaded"}
    lake.write_records(lake.marker_path(paths.lake, "old"), [record], lake.INGEST_FILES_SCHEMA)
    counts = lake.load_into(con, paths.lake)
    assert counts["raw.submissions"] == 1
    assert con.execute("select note, value from raw.submissions").fetchall() == [(None, 1.0)]


def test_parallel_ingest_loads_the_same_bytes_once(tmp_path):
    """Workers that get the same bytes at once (two names, one content) load it once: the lock per hash."""
    from ingest.intake import ingest_parallel

    paths = Paths.from_env(tmp_path / "home")
    form = "单位代码,报告期,指标代码,数值\n530700-ZGH,2025年,enterprise_unions,12\n".encode()
    files = []
    for index in range(6):
        path = tmp_path / f"copy{index}.csv"
        path.write_bytes(form)
        files.append(path)
    other = tmp_path / "other.csv"
    other.write_bytes(form.replace(b",12", b",13"))
    outcomes = list(ingest_parallel([*files, other], paths, jobs=2))
    assert [o.file_name for o in outcomes] == [f.name for f in [*files, other]]  # in the files' order
    statuses = sorted(o.status for o in outcomes[:-1])
    assert statuses == ["duplicate"] * 5 + ["loaded"] and outcomes[-1].status == "loaded"
    assert len(list((paths.lake / "audit" / "ingest_files").glob("*.parquet"))) == 2
    # received in the files' order whichever worker finished first: the later file is the later record
    received = {m["file_name"]: m["received_at"] for m in lake.read_markers(paths.lake)}
    assert received["other.csv"] > max(t for name, t in received.items() if name.startswith("copy"))


def test_parallel_ingest_loads_the_same_microdata_bytes_once(tmp_path):
    """As forms: a roster sent twice under two names and given to two workers at once is one load (both
    were loaded, each replacing the other's outputs, before microdata took the lock per hash)."""
    from ingest.intake import ingest_parallel
    from tests.ingest.test_microdata import A, csv_text

    paths = Paths.from_env(tmp_path / "home")
    rows = [[A, f"焊工{i}", "40", "2025-03-01"] for i in range(20_000)]
    text = csv_text([["公民身份号码", "培训项目", "培训学时", "开始日期"], *rows])
    folder = tmp_path / "microdata" / "trainings"
    folder.mkdir(parents=True)
    files = [folder / f"trainings_copy{index}.csv" for index in range(4)]
    for path in files:
        path.write_text(text, encoding="utf-8")
    outcomes = list(ingest_parallel(files, paths, jobs=2))
    assert sorted(o.status for o in outcomes) == ["duplicate"] * 3 + ["loaded"]
    [record] = lake.read_markers(paths.lake)
    assert record["file_name"] == next(o.file_name for o in outcomes if o.status == "loaded")


def test_parallel_ingest_starts_the_large_files_first_and_reports_in_the_files_order(tmp_path, monkeypatch):
    """A large file (microdata) is started before the forms, so that it never runs alone at the end;
    the outcomes and the receipt times stay in the files' order."""
    from ingest import intake

    paths = Paths.from_env(tmp_path / "home")
    header, row = "单位代码,报告期,指标代码,数值\n", "530700-ZGH,2025年,enterprise_unions,{}\n"
    forms = []
    for index in range(5):
        path = tmp_path / f"form{index}.csv"
        path.write_text(header + row.format(index), encoding="utf-8")
        forms.append(path)
    large = tmp_path / "large.csv"
    large.write_text(header + row.format(7) * 20, encoding="utf-8")
    monkeypatch.setattr(intake, "LARGE_FILE_BYTES", large.stat().st_size)
    outcomes = list(intake.ingest_parallel([*forms, large], paths, jobs=1))  # one worker: the order it works in
    assert [o.file_name for o in outcomes] == [f.name for f in [*forms, large]]
    written = {o.file_name: lake.marker_path(paths.lake, o.lake_name).stat().st_mtime_ns for o in outcomes}
    assert written["large.csv"] < min(t for name, t in written.items() if name.startswith("form"))
    received = {m["file_name"]: m["received_at"] for m in lake.read_markers(paths.lake)}
    assert received["large.csv"] > max(t for name, t in received.items() if name.startswith("form"))


def test_a_file_name_that_is_not_utf8_is_read_as_its_sender_wrote_it_and_blocks_nothing(paths, monkeypatch):
    """Found by an Airflow campaign: a form named in GBK (as some Windows SFTP and Samba clients write
    Chinese names) failed the whole inbox: reform_ingest's list_inbox could not pass its path on (every
    try failed, no file was ingested), and `reform ingest` failed the 63 forms of its batch."""
    import os

    from ingest import status, tasks

    raw_name = "报表_530700.csv".encode("gbk")
    gbk = paths.inbox / os.fsdecode(raw_name)
    write(gbk, FORM.format(value="5"))
    write(paths.inbox / "q2.csv", FORM.format(value="6").replace("第一季度", "第二季度"))
    assert intake.readable_name(gbk.name) == "报表_530700.csv"
    assert intake.readable_name(os.fsdecode(b"\xff\xfe.csv")) == "\ufffd\ufffd.csv"  # no encoding reads it
    said: list[str] = []
    status.print_status(paths, said.append)
    assert "报表_530700.csv" in said[1]

    outcomes = ingest_paths([paths.inbox], paths)  # `reform ingest`: recorded under the name as written
    assert sorted((o.file_name, o.status) for o in outcomes) == [("q2.csv", "loaded"), ("报表_530700.csv", "loaded")]

    (paths.inbox / "报表_530700.csv").write_bytes(b"taken")  # the readable name is taken already
    gbk_again = paths.inbox / os.fsdecode("报表_530700.csv".encode("gbk"))
    write(gbk_again, FORM.format(value="7"))
    expected = paths.inbox / f"报表_530700-{sha256_of(gbk_again)[:8]}.csv"
    listed = tasks.list_inbox()  # reform_ingest: renamed, so that its path can go to the next task as JSON
    assert str(expected) in listed and json.loads(json.dumps(listed, ensure_ascii=False).encode()) == listed
    assert not gbk_again.exists() and expected.read_bytes() == FORM.format(value="7").encode()
    assert all(os.fsencode(name).decode("utf-8") for name in os.listdir(paths.inbox))


def test_a_file_another_ingest_run_took_first_is_reported_and_the_run_goes_on(paths, monkeypatch):
    """Found by a concurrency campaign: two `reform ingest --consume` over one inbox (an operator's run
    beside the scheduled one); the run that found a file consumed by the other stopped with a system
    error (exit 3), and the rest of its files were left for another night."""
    from ingest import cli

    listed = []
    for name, value in (("q1.csv", "5"), ("gone.csv", "6"), ("q3.csv", "7")):
        listed.append(write(paths.inbox / name, FORM.format(value=value)))  # a form and its resubmissions
    (paths.inbox / "microdata" / "wages").mkdir(parents=True)
    wages = paths.inbox / "microdata" / "wages" / "wages_gone.csv"
    listed.append(wages)
    real_discover = intake.discover

    def listed_then_taken(targets):  # this run lists the inbox; the other run takes two files meanwhile
        found = [*real_discover(targets), wages]
        (paths.inbox / "gone.csv").unlink()
        return found

    monkeypatch.setattr(intake, "discover", listed_then_taken)
    said: list[str] = []
    monkeypatch.setattr(cli, "_say", said.append)
    assert cli.main(["ingest", "--consume", "--historical"]) == 0
    statuses = {line.split()[0]: line.split()[1] for line in said if line.split()[:1] and ".csv" in line.split()[0]}
    assert statuses == {
        "gone.csv": "already_processed",
        "q1.csv": "loaded",
        "q3.csv": "loaded",
        "wages_gone.csv": "already_processed",
    }
    assert "2 already ingested" in said[-1]
    assert not any(p.exists() for p in listed)


def build_beside(paths: Paths, monkeypatch, write_lake) -> tuple[object, object]:
    """A build stopped between its inventory of the lake and its load, ``write_lake()`` started then:
    the writer must wait for the build's load. Returns the build file and what the writer returned."""
    import threading

    from ingest import incremental, warehouse

    real_inventory = incremental.inventory
    inventoried, load = threading.Event(), threading.Event()

    def inventory_then_wait(lake_dir):
        found = real_inventory(lake_dir)
        inventoried.set()
        assert load.wait(60)
        return found

    monkeypatch.setattr(incremental, "inventory", inventory_then_wait)
    built: list[object] = []
    build = threading.Thread(target=lambda: built.append(warehouse.prepare(paths, "beside-a-writer")[0]))
    build.start()
    assert inventoried.wait(60)
    written: list[object] = []
    writer = threading.Thread(target=lambda: written.append(write_lake()))
    writer.start()
    writer.join(1.0)
    assert written == [], "the writer waits for the build's load"
    load.set()
    build.join(60)
    writer.join(60)
    return built[0], written[0]


def test_a_build_reads_each_file_before_or_after_a_running_reprocess_rewrites_it(paths, monkeypatch):
    """Found by a concurrency campaign: a build that inventoried the lake before a reprocess took files
    out of their segments loaded the rewritten segments by their old names, and published the lake
    without those files (no check failed). Now a reprocess waits for the build's load, file by file, and
    a build waits for the file being re-read; the build holds every file, before or after."""
    for quarter, value in (("第一季度", "5"), ("第二季度", "6"), ("第三季度", "7")):
        write(paths.inbox / f"{value}.csv", FORM.format(value=value).replace("第一季度", quarter))
    ingest_paths([paths.inbox], paths)  # one segment of three forms
    built, reprocessed = build_beside(paths, monkeypatch, lambda: intake.reprocess(paths, "*", "*"))
    assert len(reprocessed) == 3
    with duckdb.connect(str(built), read_only=True) as con:
        assert con.execute("select count(*) from raw.ingest_files").fetchone() == (3,)
        assert con.execute("select sum(value) from raw.submissions").fetchone() == (18.0,)
    assert not lake.pending_reprocesses(paths.lake)


def test_a_build_reads_a_rejection_sent_again_under_a_new_name_before_or_after_its_new_reading(paths, monkeypatch):
    """Found by a concurrency campaign's verification: a form rejected under one name and sent again
    under another is taken out of its segment, then written in a new one. A build that inventoried the
    lake between the two published neither (296 of 299 records, no check failed). Now that ingest waits
    for the build's load, as a reprocess does; the build holds the rejection, the lake its new reading."""
    write(paths.inbox / "5.csv", FORM.format(value="5"))
    write(paths.inbox / "6.csv", FORM.format(value="6").replace("第一季度", "第二季度"))
    text = FORM.format(value="7").replace("第一季度", "第三季度")
    write(paths.inbox / "7.txt", text)  # rejected for its type
    outcomes = ingest_paths([paths.inbox], paths, consume=True)  # one segment of three forms
    assert sorted(o.status for o in outcomes) == ["loaded", "loaded", "rejected"]
    renamed = write(paths.inbox / "7.csv", text)  # as the rejection's message said
    built, sent_again = build_beside(paths, monkeypatch, lambda: ingest_paths([renamed], paths, consume=True))
    assert [(o.status, o.rows_accepted) for o in sent_again] == [("loaded", 1)]
    with duckdb.connect(str(built), read_only=True) as con:  # the lake as it was before the new reading
        counts = "select count(*), count(*) filter (status = 'rejected') from raw.ingest_files"
        assert con.execute(counts).fetchone() == (3, 1)
        assert con.execute("select sum(value) from raw.submissions").fetchone() == (11.0,)
    records = lake.read_markers(paths.lake)  # and after it: the rejection replaced
    assert sorted((r["file_name"], r["status"]) for r in records) == [
        ("5.csv", "loaded"),
        ("6.csv", "loaded"),
        ("7.csv", "loaded"),
    ]


def test_a_reprocess_re_reads_a_file_as_it_is_when_its_turn_comes_not_as_it_was_listed(paths, monkeypatch, tmp_path):
    """Found by a concurrency campaign: a reprocess lists the lake, then re-reads file after file. A
    rejected file sent again under a new name in between was re-read with the listing's record, and got
    its old name and receipt time back (the ingest had answered "rejected" under the new one). Every
    order of the two, one after the other, keeps the new name."""
    from datetime import datetime

    empty = write(tmp_path / "empty.csv", "")
    assert ingest_file(empty, paths).status == "rejected"
    ingest_file(write(tmp_path / "5.csv", FORM.format(value="5")), paths)
    real_markers = lake.read_markers
    resent: list[object] = []

    def listed_then_sent_again(lake_dir):
        found = real_markers(lake_dir)
        if not resent:  # the reprocess has its list: the rejection comes again under another name
            again = write(tmp_path / "empty-again.csv", "")
            resent.append(ingest_file(again, paths, now=datetime(2026, 12, 7, 12, 0)))
        return found

    monkeypatch.setattr(lake, "read_markers", listed_then_sent_again)
    outcomes = intake.reprocess(paths, "*", "*")
    monkeypatch.undo()
    assert [(o.status, o.file_name) for o in resent] == [("rejected", "empty-again.csv")]
    assert sorted(o.file_name for o in outcomes) == ["5.csv", "empty-again.csv"]
    [record] = [r for r in lake.read_markers(paths.lake) if r["status"] == "rejected"]
    assert (record["file_name"], record["received_at"]) == ("empty-again.csv", datetime(2026, 12, 7, 12, 0))
    assert len(lake.read_markers(paths.lake)) == 2 and not lake.pending_reprocesses(paths.lake)


def test_the_rewrite_lock_is_reentrant_in_its_thread_and_exclusive_across_threads(paths):
    """A reprocess holds the lake's rewrite lock around the ingest of each file it re-reads, and that
    ingest takes it again (:func:`lake.hash_locks`): the second taking must not wait for the first."""
    import threading

    def take_shared():
        with lake.rewrite_lock(paths.lake, shared=True):
            pass

    with lake.rewrite_lock(paths.lake), lake.rewrite_lock(paths.lake):
        other = threading.Thread(target=take_shared)
        other.start()
        other.join(0.5)
        assert other.is_alive(), "another thread's shared lock waits for the exclusive one"
        with pytest.raises(RuntimeError, match="exclusively"), lake.rewrite_lock(paths.lake, shared=True):
            pass
    other.join(10)
    assert not other.is_alive()
