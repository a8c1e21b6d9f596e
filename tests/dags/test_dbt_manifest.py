"""The manifest reform_nightly's dbt tasks are rendered from: made by `dbt parse` on first use, then reused
until a project file changes (ingest.dbt_cosmos.ensure_manifest)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ingest.config import DBT_PROJECT_DIR
from ingest.dbt_cosmos import ensure_manifest, project_fingerprint

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path):
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return copy


def model_names(manifest) -> set[str]:
    return {n["name"] for n in json.loads(manifest.read_text())["nodes"].values() if n["resource_type"] == "model"}


def test_made_once_reused_and_remade_when_a_model_changes(project, monkeypatch):
    first = ensure_manifest(project)
    assert first.parent == project / "target" / "cosmos"
    assert {"fct_indicator_observation", "fct_target_progress"} <= model_names(first)
    assert not list(project.glob("target/*.duckdb")) and not list(project.glob("target/cosmos/parse-*"))

    def no_dbt(*args, **kwargs):
        raise AssertionError("dbt ran although the project did not change")

    with monkeypatch.context() as patched:
        patched.setattr(subprocess, "run", no_dbt)
        assert ensure_manifest(project) == first

    (project / "models" / "marts" / "zz_added.sql").write_text("select 1 as one\n")
    second = ensure_manifest(project)
    assert second != first and second.name == f"manifest-{project_fingerprint(project)}.json"
    assert "zz_added" in model_names(second) and "zz_added" not in model_names(first)


def test_a_project_that_does_not_parse_says_so(project):
    (project / "models" / "marts" / "zz_broken.sql").write_text("select * from {{ ref('no_such_model') }}\n")
    with pytest.raises(RuntimeError, match="dbt parse"):
        ensure_manifest(project)
    assert not list((project / "target" / "cosmos").glob("manifest-*.json"))
