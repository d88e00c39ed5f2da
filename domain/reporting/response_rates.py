"""The response-rate dashboard ("five out for one back"): one unit per outreach sent in the period."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from typing import Final, Literal, TypeAlias, get_args

import msgspec

from domain import events as ev
from domain.reporting.facts import Facts
from domain.reporting.measures import median, ratio
from domain.reporting.scope import ONE_DAY, AsOf, ReportParams, start_of_day
from domain.reporting.snapshot import (
    OutreachAnswer,
    attempt_numbers,
    counselor_as_of,
    enrolment_as_of,
    outreach_answers,
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

    __slots__ = ("answered", "days_to_response", "positive", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.answered = 0
        self.positive = 0
        self.days_to_response: list[float] = []

    def add(self, answer: OutreachAnswer) -> None:
        """Count one outreach."""
        self.sent += 1
        if answer.first_response_at is not None:
            self.answered += 1
            seconds = (answer.first_response_at - answer.outreach.occurred_at).total_seconds()
            self.days_to_response.append(seconds / SECONDS_PER_DAY)
        if answer.positive:
            self.positive += 1

    def row(self) -> ResponseRateRow:
        """The row of what was counted."""
        return ResponseRateRow(
            sent=self.sent,
            answered=self.answered,
            response_rate=ratio(self.answered, self.sent),
            positive_rate=ratio(self.positive, self.sent),
            median_days_to_response=median(self.days_to_response),
            ratio_out_per_reply=ratio(self.sent, self.answered),
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


def response_rates(facts: Facts, params: ReportParams, group_by: GroupBy | None = None) -> ResponseRates:
    """Outreaches dated in [from, to] (and by ``as_of``), answered when a counted response came by ``as_of``."""
    as_of = AsOf(params)
    start = start_of_day(params.from_date, params.time_zone)
    end = min(start_of_day(params.to_date + ONE_DAY, params.time_zone), as_of.end)
    overall = ResponseTally()
    groups: dict[str, ResponseTally] = (
        {key: ResponseTally() for key in ENUM_GROUPS.get(group_by, ())} if group_by else {}
    )
    for bundle in facts.participants.values():
        enrolment = enrolment_as_of(bundle, as_of)
        if enrolment is None or (params.cohort is not None and enrolment.cohort != params.cohort):
            continue
        counselor: uuid.UUID | None = None
        if params.counselor_id is not None or group_by == "counselor":
            counselor = counselor_as_of(bundle, enrolment, as_of)
            if params.counselor_id is not None and counselor != params.counselor_id:
                continue
        answers = outreach_answers(bundle, as_of)
        in_period = [answer for answer in answers.values() if start <= answer.outreach.occurred_at < end]
        if not in_period:
            continue
        keys: Iterable[str]
        match group_by:
            case None:
                keys = ()
            case "channel":
                keys = [answer.outreach.channel for answer in in_period]
            case "purpose":
                keys = [answer.outreach.purpose for answer in in_period]
            case "attempt":
                attempts = attempt_numbers(answers)
                keys = [str(attempts[answer.outreach.outreach_id]) for answer in in_period]
            case "counselor":
                keys = [str(counselor)] * len(in_period)
            case "cohort":
                keys = [enrolment.cohort or UNKNOWN] * len(in_period)
            case "week":
                keys = [iso_week(as_of.local_date(answer.outreach.occurred_at)) for answer in in_period]
        for answer in in_period:
            overall.add(answer)
        for answer, key in zip(in_period, keys, strict=False):
            tally = groups.get(key)
            if tally is None:
                tally = groups[key] = ResponseTally()
            tally.add(answer)
    if group_by is not None and group_by not in ENUM_GROUPS:
        groups = {key: groups[key] for key in sorted(groups, key=_sort_key(group_by))}
    return ResponseRates(
        group_by=group_by, overall=overall.row(), groups={key: tally.row() for key, tally in groups.items()}
    )
