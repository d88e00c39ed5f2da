"""The worked examples of ``shared/spec/examples``: every log gives exactly its expected figures."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import msgspec
import pytest

from domain.reporting.facts import EventEnvelope, facts_from_events
from domain.reporting.outcomes import outcome_report
from domain.reporting.response_rates import response_rates
from domain.reporting.scope import ReportParams
from domain.reporting.suppression import ROW_FIELDS

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "spec" / "examples"
TOLERANCE = 1e-9


def _logs() -> list[Path]:
    return sorted(EXAMPLES.glob("*.jsonl"))


def _envelopes(log: Path) -> list[EventEnvelope]:
    envelopes = []
    for position, line in enumerate(log.read_text().splitlines(), start=1):
        raw = json.loads(line)
        envelopes.append(msgspec.convert({**raw, "global_position": position}, EventEnvelope))
    return envelopes


def _differences(got: Any, expected: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return [f"{path}: keys {sorted(got) if isinstance(got, dict) else got!r} != {sorted(expected)}"]
        return [line for key in expected for line in _differences(got[key], expected[key], f"{path}.{key}")]
    if expected is None or got is None or isinstance(expected, bool):
        return [] if got == expected and type(got) is type(expected) else [f"{path}: {got!r} != {expected!r}"]
    if isinstance(got, bool) or not math.isclose(got, expected, rel_tol=0, abs_tol=TOLERANCE):
        return [f"{path}: {got!r} != {expected!r}"]
    return []


def test_every_example_is_found() -> None:
    assert len(_logs()) == 14
    assert all(log.with_suffix("").with_suffix(".expected.json").exists() for log in _logs())


@pytest.mark.parametrize("log", _logs(), ids=lambda log: log.stem)
def test_example_gives_its_expected_figures(log: Path) -> None:
    expected = json.loads(log.with_suffix("").with_suffix(".expected.json").read_text())
    raw_params = expected["params"]
    params = ReportParams(
        from_date=dt.date.fromisoformat(raw_params["from"]),
        to_date=dt.date.fromisoformat(raw_params["to"]),
        as_of=dt.date.fromisoformat(raw_params["as_of"]),
    )
    facts = facts_from_events(_envelopes(log))

    figures = msgspec.to_builtins(outcome_report(facts, params).figures)
    differences = _differences(figures, expected["outcome_report"], "outcome_report")
    for group_by, expected_rows in expected["response_rates"].items():
        rates = response_rates(facts, params, group_by)
        rows = {
            group: {field: msgspec.to_builtins(row)[field] for field in ROW_FIELDS}
            for group, row in rates.groups.items()
        }
        differences += _differences(rows, expected_rows, f"response_rates.{group_by}")
        assert list(rows) == list(expected_rows), "groups are listed in the expected order"

    assert differences == []
