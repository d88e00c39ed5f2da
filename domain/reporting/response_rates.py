"""The response-rate dashboard ("five out for one back"): one unit per outreach sent in the period."""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import uuid
from collections.abc import Callable, Sequence
from typing import Final, Literal, TypeAlias, get_args

import msgspec

from domain import events as ev
from domain.reporting.facts import SECONDS_PER_DAY, Facts, Outreach, OutreachIndex, Participant
from domain.reporting.measures import median, ratio
from domain.reporting.scope import ONE_DAY, AsOf, ReportParams, start_of_day
from domain.reporting.snapshot import (
    OutreachReplies,
    attempt_numbers,
    counselor_as_of,
    enrolment_as_of,
    outreach_replies,
)

GroupBy: TypeAlias = Literal["channel", "purpose", "attempt", "counselor", "cohort", "week"]
GROUP_BYS: Final[tuple[GroupBy, ...]] = get_args(GroupBy)
ENUM_GROUPS: Final[dict[GroupBy, tuple[str, ...]]] = {"channel": ev.CHANNELS, "purpose": ev.PURPOSES}
"""Groupings over an enum list every value, sent or not; the others list only keys with an outreach."""

UNKNOWN: Final = "unknown"


class ResponseRateRow(msgspec.Struct, kw_only=True):
    """One row of the dashboard; ``positive`` (outreaches with a positive response) is kept for suppression."""

    sent: int
    answered: int
    response_rate: float | None
    positive_rate: float | None
    median_days_to_response: float | None
    ratio_out_per_reply: float | None
    positive: int


class ResponseRates(msgspec.Struct, kw_only=True):
    """The dashboard: the overall row and, when grouped, a row per group value."""

    group_by: GroupBy | None
    overall: ResponseRateRow
    groups: dict[str, ResponseRateRow]


class ResponseTally:
    """Accumulates outreaches into a row."""

    __slots__ = ("days_to_response", "positive", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.positive = 0
        self.days_to_response: list[float] = []

    def add(self, outreaches: Sequence[Outreach], replies: OutreachReplies) -> None:
        """Count some outreaches of one participant."""
        self.sent += len(outreaches)
        first_reply_at = replies.first_reply_at
        days = self.days_to_response
        for outreach in outreaches:
            replied_at = first_reply_at.get(outreach.outreach_id.int)
            if replied_at is not None:
                days.append((replied_at - outreach.occurred_at).total_seconds() / SECONDS_PER_DAY)
        if replies.positive:
            self.positive += len(replies.positive.intersection([outreach.outreach_id.int for outreach in outreaches]))

    def add_one(self, days: float | None, positive: bool) -> None:
        """Count one outreach: days to its first counted response (``None`` unanswered), whether any was positive."""
        self.sent += 1
        if days is not None:
            self.days_to_response.append(days)
        if positive:
            self.positive += 1

    def row(self) -> ResponseRateRow:
        """The row of what was counted."""
        answered = len(self.days_to_response)
        return ResponseRateRow(
            sent=self.sent,
            answered=answered,
            response_rate=ratio(answered, self.sent),
            positive_rate=ratio(self.positive, self.sent),
            median_days_to_response=median(self.days_to_response),
            ratio_out_per_reply=ratio(self.sent, answered),
            positive=self.positive,
        )


@functools.lru_cache(maxsize=4096)
def iso_week(day: dt.date) -> str:
    """``YYYY-Www`` with the ISO week-numbering year."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def group_sort_key(group_by: GroupBy) -> Callable[[str], tuple[int, str]]:
    """How the groups of a grouping not over an enum are ordered: attempts by number, the others by key."""
    if group_by == "attempt":
        return lambda key: (int(key), "")
    return lambda key: (0, key)


def _group_keys(
    group_by: GroupBy,
    outreaches: Sequence[Outreach],
    replies: OutreachReplies,
    enrolment: Participant,
    counselor: uuid.UUID | None,
    as_of: AsOf,
) -> list[str]:
    match group_by:
        case "channel":
            return [outreach.channel for outreach in outreaches]
        case "purpose":
            return [outreach.purpose for outreach in outreaches]
        case "attempt":
            attempts = attempt_numbers(replies.outreaches)
            return [str(attempts[outreach.outreach_id.int]) for outreach in outreaches]
        case "counselor":
            return [str(counselor)] * len(outreaches)
        case "cohort":
            return [enrolment.cohort or UNKNOWN] * len(outreaches)
        case "week":
            return [iso_week(as_of.local_date(outreach.occurred_at)) for outreach in outreaches]


def _all_attempts(index: OutreachIndex) -> dict[int, int]:
    """Attempt numbers of all of a participant's outreach never voided, kept with their index once asked."""
    held: dict[int, int] | None = index.__dict__.get("_attempts")
    if held is None:
        held = index.__dict__["_attempts"] = attempt_numbers(index.ordered)
    return held


def _attempts_before(index: OutreachIndex, counted: int) -> dict[int, int]:
    """Attempt numbers when only the first ``counted`` of ``index.ordered`` count (those sent before the report's end).

    When every follow-up is dated on or after the outreach it follows up (the usual
    case, though a late entry may break it), a thread never reaches past a later
    outreach, so the numbers of all of them serve any prefix.
    """
    if counted == len(index.ordered) or index.threads_in_order:
        return _all_attempts(index)
    return attempt_numbers(index.ordered[:counted])


def _add_indexed(
    index: OutreachIndex,
    start: dt.datetime,
    stop: dt.datetime,
    as_of: AsOf,
    group_by: GroupBy | None,
    constant_key: str | None,
    overall: ResponseTally,
    tallies: dict[str, ResponseTally],
) -> None:
    """Count a participant's outreaches sent in [``start``, ``stop``) from their index (every void settled)."""
    sent = index.sent
    low, high = bisect.bisect_left(sent, start), bisect.bisect_left(sent, stop)
    if low >= high:
        return
    end = as_of.end
    days: list[float | None] = index.days_seq[low:high]
    positive: list[dt.datetime | None] = index.positive_seq[low:high]
    if index.last_reply is not None and index.last_reply >= end:
        # Some responses come after the report: only those before its end count.
        days = [
            day if replied is not None and replied < end else None
            for day, replied in zip(days, index.reply_seq[low:high], strict=True)
        ]
        positive = [at if at is not None and at < end else None for at in positive]
    answered = [day for day in days if day is not None]
    positives = high - low - positive.count(None)
    overall.sent += high - low
    overall.days_to_response.extend(answered)
    overall.positive += positives
    if group_by is None:
        return
    if constant_key is not None:
        tally = tallies.get(constant_key)
        if tally is None:
            tally = tallies[constant_key] = ResponseTally()
        tally.sent += high - low
        tally.days_to_response.extend(answered)
        tally.positive += positives
        return
    outreaches = index.ordered[low:high]
    keys: list[str]
    match group_by:
        case "channel":
            keys = [outreach.channel for outreach in outreaches]
        case "purpose":
            keys = [outreach.purpose for outreach in outreaches]
        case "attempt":
            attempts = _attempts_before(index, bisect.bisect_left(sent, end))
            keys = [str(attempts[outreach.outreach_id.int]) for outreach in outreaches]
        case _:
            keys = [iso_week(day) for day in index.local_dates(as_of.zone)[low:high]]
    for key, day, positive_at in zip(keys, days, positive, strict=True):
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = ResponseTally()
        tally.add_one(day, positive_at is not None)


def response_rates(
    facts: Facts, params: ReportParams, group_by: GroupBy | None = None, *, indexed: bool = True
) -> ResponseRates:
    """Outreaches dated in [from, to] (and by ``as_of``), answered when a counted response came by ``as_of``.

    ``indexed`` counts a participant from their outreach index when nothing of theirs
    is after the report's position and every void among their outreach has happened
    by its end (the usual case); otherwise, and with ``indexed=False``, record by record.
    """
    as_of = AsOf(params)
    start = start_of_day(params.from_date, params.time_zone)
    end = start_of_day(params.to_date + ONE_DAY, params.time_zone)
    stop = min(end, as_of.end)
    overall = ResponseTally()
    tallies = {key: ResponseTally() for key in ENUM_GROUPS.get(group_by, ())} if group_by else {}
    for bundle in facts.participants.values():
        enrolment = enrolment_as_of(bundle, as_of)
        if enrolment is None or (params.cohort is not None and enrolment.cohort != params.cohort):
            continue
        counselor: uuid.UUID | None = None
        if params.counselor_id is not None or group_by == "counselor":
            counselor = counselor_as_of(bundle, enrolment, as_of)
            if params.counselor_id is not None and counselor != params.counselor_id:
                continue
        if indexed and as_of.holds(bundle.highest_position, bundle.highest_tx):
            index = bundle.outreach_index()
            if index.settled(as_of.end, as_of.at):
                constant_key = (
                    str(counselor)
                    if group_by == "counselor"
                    else (enrolment.cohort or UNKNOWN)
                    if group_by == "cohort"
                    else None
                )
                _add_indexed(index, start, stop, as_of, group_by, constant_key, overall, tallies)
                continue
        replies = outreach_replies(bundle, as_of)
        in_period = [outreach for outreach in replies.outreaches if start <= outreach.occurred_at < end]
        if not in_period:
            continue
        overall.add(in_period, replies)
        if group_by is None:
            continue
        by_key: dict[str, list[Outreach]] = {}
        for key, outreach in zip(
            _group_keys(group_by, in_period, replies, enrolment, counselor, as_of), in_period, strict=True
        ):
            by_key.setdefault(key, []).append(outreach)
        for key, outreaches in by_key.items():
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = ResponseTally()
            tally.add(outreaches, replies)
    if group_by is not None and group_by not in ENUM_GROUPS:
        tallies = {key: tallies[key] for key in sorted(tallies, key=group_sort_key(group_by))}
    return ResponseRates(
        group_by=group_by, overall=overall.row(), groups={key: tally.row() for key, tally in tallies.items()}
    )
