"""Random but valid programmes for property and load tests; the generators live in ``services.demo``."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from services.demo import CHANNELS, PURPOSES, SOURCES, START, demo_log, programme_log

__all__ = ["CHANNELS", "PURPOSES", "SOURCES", "START", "demo_log", "programme_log", "reassigned_and_removed"]


def _void(rng: random.Random, line: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    return {
        "stream_id": line["stream_id"],
        "type": "entry_voided",
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "occurred_at": at.isoformat(),
        "data": {"voided_event_id": line["event_id"], "reason": "entered by mistake"},
    }


def reassigned_and_removed(
    rng: random.Random, log: list[dict[str, Any]], counselors: list[str]
) -> list[dict[str, Any]]:
    """``log`` with what ``programme_log`` never makes: participants given another counselor (right after their
    enrolment in the log, dated up to 90 days after it), and at the end of the log, voids of some of those
    assignments and of some enrolments (dated up to 60 days after what they void)."""
    varied: list[dict[str, Any]] = []
    removals: list[dict[str, Any]] = []
    for line in log:
        varied.append(line)
        if line["type"] != "participant_enrolled":
            continue
        enrolled = dt.datetime.fromisoformat(line["occurred_at"])
        for _ in range(rng.choice((0, 0, 1, 2))):
            assignment = {
                "stream_id": line["stream_id"],
                "type": "counselor_assigned",
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "occurred_at": (enrolled + dt.timedelta(days=rng.randint(0, 90), hours=rng.randint(0, 23))).isoformat(),
                "data": {"counselor_id": rng.choice(counselors)},
            }
            varied.append(assignment)
            if rng.random() < 0.3:
                removals.append(
                    _void(
                        rng,
                        assignment,
                        dt.datetime.fromisoformat(assignment["occurred_at"])
                        + dt.timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23)),
                    )
                )
        if rng.random() < 0.15:
            removals.append(
                _void(rng, line, enrolled + dt.timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23)))
            )
    return varied + removals
