"""The programme outcome report: placement, retention, People Links, outreach and WIOA-style figures.

Each participant of the report's cohort is read once into a ``ParticipantOutcome``;
the figures of the whole cohort and of every breakdown group are sums over those.
"""

from __future__ import annotations

import datetime as dt
import operator
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final, Literal, TypeAlias, get_args

import msgspec

from domain import events as ev
from domain.reporting.facts import Contact, Facts, Participant, ParticipantFacts, changes, derived
from domain.reporting.measures import median, median_money, ratio
from domain.reporting.scope import AsOf, ReportParams, start_of_day
from domain.reporting.snapshot import (
    Job,
    counselor_as_of,
    counted_outreaches,
    counted_responses,
    enrolment_as_of,
    exit_as_of,
    first_job,
    jobs_as_of,
    people_link_count,
)

RetentionStatus: TypeAlias = Literal["retained", "lost", "unknown"]
Breakdown: TypeAlias = Literal["counselor", "cohort", "age_band", "gender", "race_ethnicity", "veteran"]
BREAKDOWNS: Final[tuple[Breakdown, ...]] = get_args(Breakdown)
MILESTONES: Final[tuple[int, ...]] = (30, 90, 180)
REFERRAL_SOURCES: Final[frozenset[str]] = frozenset({"referral", "network_contact"})
PLACEMENT_WINDOW: Final = dt.timedelta(days=180)
BETTER_JOB_WINDOW: Final = dt.timedelta(days=14)
SECOND_JOB_WINDOW: Final = dt.timedelta(days=365)
UNKNOWN: Final = "unknown"


class ParticipantOutcome(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What one participant of the report's cohort contributes to each figure, and the groups they fall in."""

    counselor: str
    cohort: str
    age_band: str
    gender: str
    race_ethnicity: str
    veteran: str
    placed: bool = False
    placed_within_180d: bool = False
    days_to_placement: int | None = None
    starting_wage: Decimal | None = None
    first_source: ev.HireSource | None = None
    retention_30: RetentionStatus | None = None
    """``None`` when the first job is not eligible (or there is none)."""
    retention_90: RetentionStatus | None = None
    retention_180: RetentionStatus | None = None
    second_job_or_promotion: bool = False
    people_links: int = 0
    outreach_sent: int = 0
    outreach_answered: int = 0
    employed_q2_after_exit: bool | None = None
    """``None`` when the participant is not in the WIOA-style population for that quarter."""
    employed_q4_after_exit: bool | None = None
    returned_to_custody: bool = False


class Retention(msgspec.Struct, kw_only=True):
    """Retention at one milestone over the eligible first jobs."""

    eligible: int
    retained: int
    lost: int
    unknown: int
    rate: float | None


class OutcomeFigures(msgspec.Struct, kw_only=True):
    """The figures of the outcome report, in the shape of ``api.md`` (bare values)."""

    enrolled: int
    placed: int
    placement_rate: float | None
    placed_within_180d: int
    median_days_to_placement: float | None
    median_starting_wage: float | None
    hires_by_source: dict[str, int]
    referral_share: float | None
    retention_30: Retention
    retention_90: Retention
    retention_180: Retention
    retention_by_source_90: dict[str, Retention]
    second_job_or_promotion: int
    people_links_per_participant: float | None
    outreach_per_participant: float | None
    response_rate: float | None
    employed_q2_after_exit: float | None
    employed_q4_after_exit: float | None
    returned_to_custody: int


class Populations(msgspec.Struct, kw_only=True):
    """Counts behind rates, means and medians that are not figures themselves (needed to suppress them)."""

    with_wage: int
    """Placed participants whose first hire carries a wage (the population of the wage median)."""
    referral_hires: int
    """First hires found by referral or a network contact (the numerator of ``referral_share``)."""
    people_links: int
    outreach_sent: int
    outreach_answered: int
    q2_eligible: int
    q2_employed: int
    q4_eligible: int
    q4_employed: int


class Outcome(msgspec.Struct, kw_only=True):
    """The figures of a set of participants, with the populations behind them."""

    figures: OutcomeFigures
    populations: Populations


class OutcomeReport(msgspec.Struct, kw_only=True):
    """The whole report: figures of the cohort, and of each group of each breakdown."""

    figures: OutcomeFigures
    populations: Populations
    breakdowns: dict[str, dict[str, Outcome]]


def _retention_status(first: Job, jobs: Mapping[uuid.UUID, Job], days: int, as_of: dt.date) -> RetentionStatus | None:
    start = first.hire.start_date
    milestone = start + dt.timedelta(days=days)
    if milestone > as_of:
        return None
    end = first.end
    if end is not None and end.ended_on < milestone:
        if end.reason == "moved_to_better_job":
            latest_start = min(end.ended_on + BETTER_JOB_WINDOW, as_of)
            first_id = first.hire.job_id
            if any(job_id != first_id and start <= job.hire.start_date <= latest_start for job_id, job in jobs.items()):
                return "retained"
        return "lost"
    if (end is not None and end.ended_on >= milestone) or any(day >= milestone for day in first.verified_on):
        return "retained"
    return "unknown"


def _second_job_or_promotion(first: Job, jobs: Mapping[uuid.UUID, Job], as_of: dt.date) -> bool:
    start = first.hire.start_date
    latest = min(start + SECOND_JOB_WINDOW, as_of)
    for job_id, job in jobs.items():
        if job_id != first.hire.job_id and start <= job.hire.start_date <= latest:
            return True
        if any(start <= day <= latest for day in job.promoted_on):
            return True
    return False


def _quarter_after(day: dt.date, quarters: int) -> tuple[dt.date, dt.date]:
    """First and last day of the ``quarters``-th calendar quarter after the quarter of ``day``."""
    index = day.year * 4 + (day.month - 1) // 3 + quarters
    year, quarter = divmod(index, 4)
    first = dt.date(year, quarter * 3 + 1, 1)
    following = dt.date(year + 1, 1, 1) if quarter == 3 else dt.date(year, quarter * 3 + 4, 1)
    return first, following - dt.timedelta(days=1)


def _employed_in_quarter_after(
    exited_on: dt.date, quarters: int, jobs: Mapping[uuid.UUID, Job], as_of: dt.date
) -> bool | None:
    first_day, last_day = _quarter_after(exited_on, quarters)
    if last_day > as_of:
        return None
    return any(
        job.hire.start_date <= last_day and (job.end is None or job.end.ended_on >= first_day) for job in jobs.values()
    )


def outreach_since(bundle: ParticipantFacts, start: dt.datetime, as_of: AsOf) -> tuple[int, int]:
    """(counted outreaches sent from ``start`` to the end of ``as_of``, how many of them were answered by then)."""
    if as_of.holds(bundle.highest_position, bundle.highest_tx):
        # Nothing after the report's position: what counts is what is dated by then and not voided by then.
        return bundle.outreach_index().count_between(start, as_of.end, as_of.at)
    return outreach_since_by_record(bundle, start, as_of)


def outreach_since_by_record(bundle: ParticipantFacts, start: dt.datetime, as_of: AsOf) -> tuple[int, int]:
    """``outreach_since`` checking each outreach and response (voids, positions and dates)."""
    outreaches = counted_outreaches(bundle, as_of)
    if not outreaches:
        return 0, 0
    in_range = {outreach.outreach_id.int for outreach in outreaches if outreach.occurred_at >= start}
    replied = {response.outreach_id.int for response in counted_responses(bundle, as_of)}
    return len(in_range), len(in_range & replied)


def _profile_key(value: str | bool | None) -> str:
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class _Groups(msgspec.Struct, frozen=True, gc=False):
    """A participant's groups in the profile breakdowns, as keyed in the report."""

    cohort: str
    age_band: str
    gender: str
    race_ethnicity: str
    veteran: str


def _groups(bundle: ParticipantFacts, enrolment: Participant) -> _Groups:
    """The enrolment's profile keys, kept beside the participant's facts (``derived``)."""
    return derived(
        bundle,
        "_groups",
        lambda: _Groups(
            cohort=_profile_key(enrolment.cohort),
            age_band=_profile_key(enrolment.age_band),
            gender=_profile_key(enrolment.gender),
            race_ethnicity=_profile_key(enrolment.race_ethnicity),
            veteran=_profile_key(enrolment.veteran),
        ),
    )


def participant_outcome(
    bundle: ParticipantFacts,
    *,
    enrolment: Participant,
    counselor: str,
    contacts: Mapping[uuid.UUID, Contact],
    outreach_from: dt.datetime,
    as_of: AsOf,
) -> ParticipantOutcome:
    """One cohort participant's contribution to every figure as of the report (outreach from ``outreach_from``)."""
    day = as_of.date
    jobs = jobs_as_of(bundle, as_of)
    sent, answered = outreach_since(bundle, outreach_from, as_of)
    exit_ = exit_as_of(bundle, as_of) if bundle.exits else None
    q2 = q4 = None
    if exit_ is not None and exit_.reason != "reincarcerated":
        q2 = _employed_in_quarter_after(exit_.exited_on, 2, jobs, day)
        q4 = _employed_in_quarter_after(exit_.exited_on, 4, jobs, day)
    groups = _groups(bundle, enrolment)
    first = first_job(jobs, as_of) if jobs else None
    placed_within_180d = second_job_or_promotion = False
    days_to_placement: int | None = None
    starting_wage: Decimal | None = None
    first_source: ev.HireSource | None = None
    r30 = r90 = r180 = None
    if first is not None:
        hire = first.hire
        placed_within_180d = hire.start_date <= enrolment.enrolled_on + PLACEMENT_WINDOW
        days_to_placement = (hire.start_date - enrolment.enrolled_on).days
        starting_wage = hire.hourly_wage
        first_source = hire.source
        r30, r90, r180 = (_retention_status(first, jobs, days, day) for days in MILESTONES)
        second_job_or_promotion = _second_job_or_promotion(first, jobs, day)
    return ParticipantOutcome(
        counselor=counselor,
        cohort=groups.cohort,
        age_band=groups.age_band,
        gender=groups.gender,
        race_ethnicity=groups.race_ethnicity,
        veteran=groups.veteran,
        placed=first is not None,
        placed_within_180d=placed_within_180d,
        days_to_placement=days_to_placement,
        starting_wage=starting_wage,
        first_source=first_source,
        retention_30=r30,
        retention_90=r90,
        retention_180=r180,
        second_job_or_promotion=second_job_or_promotion,
        people_links=people_link_count(bundle, jobs, contacts, as_of),
        outreach_sent=sent,
        outreach_answered=answered,
        employed_q2_after_exit=q2,
        employed_q4_after_exit=q4,
        returned_to_custody=exit_ is not None and exit_.reason == "reincarcerated",
    )


MEMO_SIZE: Final = 4
"""Outcomes kept per participant (one per ``as_of`` asked for lately)."""


def participant_outcomes(facts: Facts, params: ReportParams, *, memo: bool = True) -> list[ParticipantOutcome]:
    """The report's cohort (``enrolled_on`` in [from, to] and by ``as_of``, and the filters), one outcome each.

    A participant's outcome depends on their records, the contact directory, and where
    the report looks from (``as_of`` in its zone and, when any record is after it, the
    position); outreach alone also depends on ``from``. With ``memo`` each participant
    keeps their last few outcomes under exactly those inputs (their records and the
    directory by change counts), so a report asked again for the same ``as_of``, the
    usual dashboard, recomputes only the participants whose records changed (and, for
    another ``from``, their outreach).
    """
    as_of = AsOf(params)
    latest_enrolment = min(params.to_date, params.as_of)
    outreach_from = start_of_day(params.from_date, params.time_zone)
    counselor_keys: dict[uuid.UUID, str] = {}
    directory_changes, directory_top, directory_top_tx = changes(facts)
    outcomes = []
    for bundle in facts.participants.values():
        enrolment = enrolment_as_of(bundle, as_of)
        if enrolment is None or not params.from_date <= enrolment.enrolled_on <= latest_enrolment:
            continue
        if params.cohort is not None and enrolment.cohort != params.cohort:
            continue
        counselor_id = counselor_as_of(bundle, enrolment, as_of)
        if params.counselor_id is not None and counselor_id != params.counselor_id:
            continue
        if memo:
            bundle_changes, bundle_top, bundle_top_tx = changes(bundle)
            # The report position matters only when a record is beyond it (by its position or its transaction).
            within = as_of.holds(max(bundle_top, directory_top), max(bundle_top_tx, directory_top_tx))
            key = (as_of.date, as_of.zone, None if within else as_of.at, bundle_changes, directory_changes)
            held: dict[tuple[object, ...], tuple[dt.datetime, ParticipantOutcome]] = bundle.__dict__.setdefault(
                "_outcomes", {}
            )
            found = held.get(key)
            if found is not None:
                counted_from, kept = found
                if counted_from != outreach_from:  # another period: the same outcome but for its outreach
                    sent, answered = outreach_since(bundle, outreach_from, as_of)
                    kept = msgspec.structs.replace(kept, outreach_sent=sent, outreach_answered=answered)
                outcomes.append(kept)
                continue
        counselor = counselor_keys.get(counselor_id)
        if counselor is None:
            counselor = counselor_keys[counselor_id] = str(counselor_id)
        outcome = participant_outcome(
            bundle,
            enrolment=enrolment,
            counselor=counselor,
            contacts=facts.contacts,
            outreach_from=outreach_from,
            as_of=as_of,
        )
        if memo:
            if len(held) >= MEMO_SIZE:
                held.clear()
            held[key] = (outreach_from, outcome)
        outcomes.append(outcome)
    return outcomes


def _retention(statuses: list[RetentionStatus | None]) -> Retention:
    # ``list.count`` compares in C: these run over every placed participant of every breakdown group.
    retained, lost, unknown = statuses.count("retained"), statuses.count("lost"), statuses.count("unknown")
    eligible = retained + lost + unknown
    return Retention(eligible=eligible, retained=retained, lost=lost, unknown=unknown, rate=ratio(retained, eligible))


def _share(flags: list[bool | None]) -> tuple[int, int]:
    """(population, how many of it are true) over the flags that are not ``None``."""
    return len(flags) - flags.count(None), flags.count(True)


def _retention_by_source(placed: Sequence[ParticipantOutcome]) -> dict[str, Retention]:
    by_source: dict[str, list[RetentionStatus | None]] = {source: [] for source in ev.HIRE_SOURCES}
    for outcome in placed:
        if outcome.first_source is not None:
            by_source[outcome.first_source].append(outcome.retention_90)
    return {source: _retention(statuses) for source, statuses in by_source.items()}


def summarise(outcomes: Sequence[ParticipantOutcome]) -> Outcome:
    """The figures of a set of participants."""
    enrolled = len(outcomes)
    placed = [outcome for outcome in outcomes if outcome.placed]
    wages = [outcome.starting_wage for outcome in placed if outcome.starting_wage is not None]
    hires_by_source = dict.fromkeys(ev.HIRE_SOURCES, 0)
    for outcome in placed:
        if outcome.first_source is not None:
            hires_by_source[outcome.first_source] += 1
    referral_hires = sum(hires_by_source[source] for source in REFERRAL_SOURCES)
    links = sum(outcome.people_links for outcome in outcomes)
    sent = sum(outcome.outreach_sent for outcome in outcomes)
    answered = sum(outcome.outreach_answered for outcome in outcomes)
    q2_eligible, q2_employed = _share([outcome.employed_q2_after_exit for outcome in outcomes])
    q4_eligible, q4_employed = _share([outcome.employed_q4_after_exit for outcome in outcomes])
    figures = OutcomeFigures(
        enrolled=enrolled,
        placed=len(placed),
        placement_rate=ratio(len(placed), enrolled),
        placed_within_180d=sum(outcome.placed_within_180d for outcome in placed),
        median_days_to_placement=median(
            [outcome.days_to_placement for outcome in placed if outcome.days_to_placement is not None]
        ),
        median_starting_wage=median_money(wages),
        hires_by_source=hires_by_source,
        referral_share=ratio(referral_hires, len(placed)),
        retention_30=_retention([outcome.retention_30 for outcome in placed]),
        retention_90=_retention([outcome.retention_90 for outcome in placed]),
        retention_180=_retention([outcome.retention_180 for outcome in placed]),
        retention_by_source_90=_retention_by_source(placed),
        second_job_or_promotion=sum(outcome.second_job_or_promotion for outcome in placed),
        people_links_per_participant=ratio(links, enrolled),
        outreach_per_participant=ratio(sent, enrolled),
        response_rate=ratio(answered, sent),
        employed_q2_after_exit=ratio(q2_employed, q2_eligible),
        employed_q4_after_exit=ratio(q4_employed, q4_eligible),
        returned_to_custody=sum(outcome.returned_to_custody for outcome in outcomes),
    )
    populations = Populations(
        with_wage=len(wages),
        referral_hires=referral_hires,
        people_links=links,
        outreach_sent=sent,
        outreach_answered=answered,
        q2_eligible=q2_eligible,
        q2_employed=q2_employed,
        q4_eligible=q4_eligible,
        q4_employed=q4_employed,
    )
    return Outcome(figures=figures, populations=populations)


def report_from_outcomes(outcomes: Sequence[ParticipantOutcome]) -> OutcomeReport:
    """The report of a cohort given each participant's outcome: overall figures and every breakdown."""
    overall = summarise(outcomes)
    breakdowns: dict[str, dict[str, Outcome]] = {}
    for breakdown in BREAKDOWNS:
        groups: dict[str, list[ParticipantOutcome]] = {}
        group_of = operator.attrgetter(breakdown)  # each breakdown is named after the field holding the group
        for outcome in outcomes:
            groups.setdefault(group_of(outcome), []).append(outcome)
        breakdowns[breakdown] = {key: summarise(groups[key]) for key in sorted(groups)}
    return OutcomeReport(figures=overall.figures, populations=overall.populations, breakdowns=breakdowns)


def outcome_report(facts: Facts, params: ReportParams) -> OutcomeReport:
    """The programme outcome report of ``reports.md`` for the given period, ``as_of`` and filters."""
    return report_from_outcomes(participant_outcomes(facts, params))
