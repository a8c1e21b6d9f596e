"""Fixtures of the ingest tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def parser_fix(monkeypatch):
    """Today's code reads values ten times larger than when the files were first ingested: stands in for
    any parser or reference fix that a reprocess applies to archived files."""
    from ingest import intake

    real_parse = intake.process_tables

    def fixed(tables, reference, pseudonymise):
        result = real_parse(tables, reference, pseudonymise)
        for row in result.rows:
            row["value"] = row["value"] * 10
        return result

    monkeypatch.setattr(intake, "process_tables", fixed)
