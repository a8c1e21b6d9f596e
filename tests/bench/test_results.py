"""The benchmark's results files: never overwritten, and each run compared with the one before it."""

from __future__ import annotations

import json

import pytest

from bench.run import compared, latest_results, results_stem


def report(seconds: float, speed: dict[str, float] | None = None) -> dict[str, object]:
    """A report of one scale whose every time is ``seconds`` (floor: half, pandas: double)."""
    stages = [{"name": name, "seconds": seconds} for name in ("ingest", "dbt")]
    scale = {
        "stages": stages,
        "pipeline": {"seconds": 2 * seconds},
        "floor": {"seconds": seconds},
        "pandas": {"seconds": 4 * seconds},
        "incremental": {"seconds": seconds / 10},
        "ratios": {"pipeline_over_floor": 2.0, "pandas_over_pipeline": 2.0},
    }
    return {"date": "2026-12-06", "scales": {"province": scale}, **({"machine_speed": speed} if speed else {})}


def test_a_second_run_of_the_day_gets_its_own_file(tmp_path):
    assert results_stem(tmp_path, "2026-12-06") == tmp_path / "2026-12-06"
    (tmp_path / "2026-12-06.json").write_text("{}")
    (tmp_path / "2026-12-06b.json").write_text("{}")
    assert results_stem(tmp_path, "2026-12-06") == tmp_path / "2026-12-06c"
    assert results_stem(tmp_path, "2026-12-07") == tmp_path / "2026-12-07"


def test_the_latest_results_are_the_last_run_of_the_last_day(tmp_path):
    assert latest_results(tmp_path) is None
    for stem, seconds in (("2026-12-05", 1), ("2026-12-06", 2), ("2026-12-06b", 3), ("2026-11-30", 4)):
        (tmp_path / f"{stem}.json").write_text(json.dumps(report(seconds)))
    (tmp_path / "2026-12-06c.json").write_text("not json")  # a broken file is passed over, not fatal
    name, before = latest_results(tmp_path)
    assert name == "2026-12-06b.json" and before["scales"]["province"]["floor"]["seconds"] == 3


def test_a_run_is_compared_stage_by_stage_with_the_one_before():
    text = compared(report(150.0), "2026-12-05.json", report(100.0))
    assert "## Compared with the previous run (2026-12-05.json)" in text
    assert "| ingest | 100.0 | 150.0 | +50% |" in text
    assert "| **pipeline** | 200.0 | 300.0 | +50% |" in text
    assert "| incremental night | 10.0 | 15.0 | +50% |" in text
    assert "has no machine-speed probe" in text  # neither run measured the machine


@pytest.mark.parametrize(("later", "warned"), [(1.05, False), (1.4, True)])
def test_a_slower_machine_is_called_out(later, warned):
    speed = {"python": 1.0, "duckdb_1_thread": 1.0, "duckdb_all_threads": 0.5}
    slower = {k: v * later for k, v in speed.items()}
    text = compared(report(150.0, {"before": slower}), "x.json", report(100.0, {"before": speed}))
    assert f"python {later - 1:+.0%}" in text
    assert ("the machine's speed differs" in text) is warned


def test_one_noisy_probe_alone_does_not_call_the_machine_slower():
    speed = {"python": 0.4, "duckdb_1_thread": 0.7, "duckdb_all_threads": 0.4}
    noisy = {**speed, "python": 0.75}  # this host's Python loop, from one process to the next
    text = compared(report(100.0, {"before": noisy}), "x.json", report(100.0, {"before": speed}))
    assert "python +88%" in text and "the machine's speed differs" not in text


def test_a_scale_the_previous_run_did_not_have_is_left_out():
    before = report(100.0)
    before["scales"] = {"city": before["scales"]["province"]}
    text = compared(report(150.0), "x.json", before)
    assert "### province" not in text and "| ingest |" not in text
