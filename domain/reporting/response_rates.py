"""The response-rate dashboard ("five out for one back"): one unit per outreach sent in the period."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Final, Literal, TypeAlias, get_args

import msgspec

from domain import events as ev
from domain.reporting.facts import Facts, Outreach, Participant
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
SECONDS_PER_DAY: Final = 86_400


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


def iso_week(day: dt.date) -> str:
    """``YYYY-Www`` with the ISO week-numbering year."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _sort_key(group_by: GroupBy) -> Callable[[str], tuple[int, str]]:
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


def response_rates(facts: Facts, params: ReportParams, group_by: GroupBy | None = None) -> ResponseRates:
    """Outreaches dated in [from, to] (and by ``as_of``), answered when a counted response came by ``as_of``."""
    as_of = AsOf(params)
    start = start_of_day(params.from_date, params.time_zone)
    end = start_of_day(params.to_date + ONE_DAY, params.time_zone)
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
        tallies = {key: tallies[key] for key in sorted(tallies, key=_sort_key(group_by))}
    return ResponseRates(
        group_by=group_by, overall=overall.row(), groups={key: tally.row() for key, tally in tallies.items()}
    )
