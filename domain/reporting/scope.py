"""What a report looks at: its parameters, and which facts count when looking from ``as_of``.

Calendar dates of instants are dates in the programme's time zone. Rather than
converting every fact's instant to a date, the few boundary dates of a report are
turned into instants once (the start of a day in that zone), and facts are compared
with those: "its date is on or before ``as_of``" is "it happened before the start
of the day after ``as_of``".
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Sequence
from typing import TypeVar

import msgspec

from domain.reporting.facts import ParticipantFacts, Record, ReportPosition

R = TypeVar("R", bound=Record)

ONE_DAY = dt.timedelta(days=1)


class ReportParams(msgspec.Struct, frozen=True, kw_only=True):
    """The parameters of a report or dashboard (``from`` and ``to`` inclusive)."""

    from_date: dt.date
    to_date: dt.date
    as_of: dt.date
    time_zone: dt.tzinfo = dt.UTC
    as_of_position: int | None = None
    """Count only events at or before this ``global_position`` (a reproducible report)."""
    as_of_horizon: int | None = None
    """And only events whose transaction id is below this horizon (the one pinned with the position);
    ``None``: no limit."""
    cohort: str | None = None
    counselor_id: uuid.UUID | None = None


def start_of_day(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The first instant of ``day`` in ``zone``, in UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


class AsOf:
    """Decides which records count when looking from the end of ``as_of`` at the report position (P, H).

    A record counts when the position holds its event (``position <= P`` and
    ``tx < H``), its date is on or before ``as_of``, and it is not voided by a void
    the position holds whose own date is on or before ``as_of`` (a void counts from
    its own date on).
    """

    __slots__ = ("at", "date", "end", "holds", "horizon", "position", "zone")

    def __init__(self, params: ReportParams) -> None:
        self.date = params.as_of
        self.zone = params.time_zone
        self.end = start_of_day(params.as_of + ONE_DAY, params.time_zone)
        self.position = sys.maxsize if params.as_of_position is None else params.as_of_position
        self.horizon = sys.maxsize if params.as_of_horizon is None else params.as_of_horizon
        self.at = ReportPosition(self.position, self.horizon)
        self.holds = self.at.holds
        """Whether the report position holds an event at ``position`` stored by transaction ``tx``."""

    def counts(self, record: Record) -> bool:
        """Whether the record's event has happened and is not voided, as of the report."""
        if not self.holds(record.position, record.tx) or record.occurred_at >= self.end:
            return False
        voided_at = record.voided_at
        if voided_at is None or voided_at >= self.end:
            return True
        voided_position = record.voided_position
        return voided_position is not None and not self.holds(voided_position, record.voided_tx or 0)

    def counts_all(self, bundle: ParticipantFacts) -> bool:
        """Whether every record of a participant counts (nothing voided, nothing after the report)."""
        latest = bundle.latest_occurred_at
        return (
            bundle.voided == 0
            and self.holds(bundle.highest_position, bundle.highest_tx)
            and (latest is None or latest < self.end)
        )

    def counted(self, records: Sequence[R]) -> list[R]:
        """The records that count (one comprehension: this runs over every outreach of a report)."""
        end, position, horizon = self.end, self.position, self.horizon
        return [
            record
            for record in records
            if record.position <= position
            and record.tx < horizon
            and record.occurred_at < end
            and (
                record.voided_at is None
                or record.voided_at >= end
                or (
                    record.voided_position is not None
                    and (record.voided_position > position or (record.voided_tx or 0) >= horizon)
                )
            )
        ]

    def local_date(self, instant: dt.datetime) -> dt.date:
        """The calendar date of an instant in the programme's time zone."""
        return instant.astimezone(self.zone).date()
