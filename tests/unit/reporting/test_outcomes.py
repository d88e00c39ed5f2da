"""Outcome report figures on hand-built logs: one behaviour of ``reports.md`` per test."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.reporting.outcomes import OutcomeFigures, OutcomeReport, outcome_report
from tests.unit.reporting.history import OTHER_COUNSELOR, History, at, params


def report(history: History, from_: str, to: str, as_of: str, **extra: object) -> OutcomeReport:
    return outcome_report(history.facts(), params(from_, to, as_of, **extra))


def figures(history: History, from_: str, to: str, as_of: str, **extra: object) -> OutcomeFigures:
    return report(history, from_, to, as_of, **extra).figures


# --- the cohort of the report -----------------------------------------------------------------------------------------


def test_cohort_is_enrolled_on_within_the_period_and_not_after_as_of() -> None:
    history = History()
    history.enrol("2024-12-31")
    history.enrol("2025-01-01")
    history.enrol("2025-06-30")
    history.enrol("2025-07-01", occurred_at=at("2025-06-20"))

    assert figures(history, "2025-01-01", "2025-06-30", "2025-12-31").enrolled == 2
    assert figures(history, "2025-01-01", "2025-12-31", "2025-06-30").enrolled == 2
    assert figures(history, "2025-01-01", "2025-12-31", "2025-07-01").enrolled == 3


def test_enrolment_recorded_after_as_of_is_not_counted_yet() -> None:
    history = History()
    history.enrol("2025-03-01", occurred_at=at("2025-03-10"))

    assert figures(history, "2025-01-01", "2025-12-31", "2025-03-09").enrolled == 0
    assert figures(history, "2025-01-01", "2025-12-31", "2025-03-10").enrolled == 1


def test_voided_participant_counts_until_the_date_of_the_void() -> None:
    history = History()
    participant = history.enrol("2025-03-01")
    history.hire(participant, "2025-03-05")
    history.void_in(participant, history.envelopes[0].event_id, at("2025-04-01", "09:00:00"))

    before = figures(history, "2025-01-01", "2025-12-31", "2025-03-31")
    on_the_day = figures(history, "2025-01-01", "2025-12-31", "2025-04-01")

    assert (before.enrolled, before.placed) == (1, 1)
    assert (on_the_day.enrolled, on_the_day.placed) == (0, 0)


def test_a_void_is_dated_in_the_programme_time_zone() -> None:
    history = History()
    participant = history.enrol("2025-03-01")
    job = history.hire(participant, "2025-03-05")
    history.void_in(participant, history.last_event, at("2025-06-01", "02:00:00"))  # 2025-05-31 22:00 in New York
    del job

    in_utc = figures(history, "2025-01-01", "2025-12-31", "2025-05-31")
    in_new_york = figures(history, "2025-01-01", "2025-12-31", "2025-05-31", time_zone=ZoneInfo("America/New_York"))

    assert in_utc.placed == 1
    assert in_new_york.placed == 0


def test_cohort_and_counselor_filters_narrow_the_cohort() -> None:
    history = History()
    history.enrol("2025-02-01", cohort="spring")
    history.enrol("2025-02-01", cohort="summer")
    moved = history.enrol("2025-02-01", cohort="spring")
    history.assign(moved, OTHER_COUNSELOR, at("2025-03-01"))

    assert figures(history, "2025-01-01", "2025-12-31", "2025-12-31", cohort="spring").enrolled == 2
    assert figures(history, "2025-01-01", "2025-12-31", "2025-12-31", counselor_id=OTHER_COUNSELOR).enrolled == 1
    assert figures(history, "2025-01-01", "2025-12-31", "2025-02-28", counselor_id=OTHER_COUNSELOR).enrolled == 0


# --- placement -------------------------------------------------------------------------------------------------------


def test_placed_needs_a_start_date_on_or_before_as_of() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    history.hire(participant, "2025-02-10", occurred_at=at("2025-01-20"))

    assert figures(history, "2025-01-01", "2025-12-31", "2025-02-09").placed == 0
    assert figures(history, "2025-01-01", "2025-12-31", "2025-02-10").placed == 1


def test_first_job_is_the_earliest_start_date_whatever_the_order_recorded() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    history.hire(participant, "2025-03-01", wage="20.00", source="online_application", occurred_at=at("2025-02-01"))
    history.hire(participant, "2025-02-01", wage="15.00", source="walk_in", occurred_at=at("2025-02-02"))

    result = figures(history, "2025-01-01", "2025-12-31", "2025-12-31")

    assert result.median_starting_wage == 15.0
    assert result.median_days_to_placement == 26.0
    assert result.hires_by_source["walk_in"] == 1
    assert result.hires_by_source["online_application"] == 0


def test_first_job_tie_on_start_date_goes_to_the_lower_position() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    history.hire(participant, "2025-02-03", wage="14.00", source="staffing_agency")
    history.hire(participant, "2025-02-03", wage="22.00", source="referral")

    result = figures(history, "2025-01-01", "2025-12-31", "2025-12-31")

    assert result.median_starting_wage == 14.0
    assert result.hires_by_source["staffing_agency"] == 1
    assert result.referral_share == 0.0
    assert result.second_job_or_promotion == 1


def test_placed_within_180d_includes_day_180_but_not_181() -> None:
    history = History()
    on_day_180 = history.enrol("2025-01-01")
    history.hire(on_day_180, "2025-06-30")
    on_day_181 = history.enrol("2025-01-01")
    history.hire(on_day_181, "2025-07-01")

    result = figures(history, "2025-01-01", "2025-12-31", "2025-12-31")

    assert (result.placed, result.placed_within_180d) == (2, 1)
    assert result.median_days_to_placement == 180.5


def test_median_starting_wage_uses_first_hires_that_carry_a_wage() -> None:
    history = History()
    without_wage = history.enrol("2025-01-06")
    history.hire(without_wage, "2025-02-01", wage=None)
    history.hire(without_wage, "2025-03-01", wage="30.00")
    for wage in ("15.10", "16.20", "17.30"):
        history.hire(history.enrol("2025-01-06"), "2025-02-01", wage=wage)

    result = figures(history, "2025-01-01", "2025-12-31", "2025-12-31")
    populations = report(history, "2025-01-01", "2025-12-31", "2025-12-31").populations

    assert result.median_starting_wage == pytest.approx(16.2, abs=1e-12)
    assert populations.with_wage == 3


def test_hires_by_source_lists_every_source_and_referral_share_counts_network_contacts() -> None:
    history = History()
    for source in ("referral", "network_contact", "walk_in", "walk_in"):
        history.hire(history.enrol("2025-01-06"), "2025-02-01", source=source)

    result = figures(history, "2025-01-01", "2025-12-31", "2025-12-31")

    assert result.hires_by_source == {
        "referral": 1,
        "network_contact": 1,
        "walk_in": 2,
        "online_application": 0,
        "staffing_agency": 0,
        "job_developer": 0,
        "other": 0,
    }
    assert result.referral_share == 0.5


def test_figures_over_nobody_are_null() -> None:
    result = figures(History(), "2025-01-01", "2025-12-31", "2025-12-31")

    assert result.enrolled == 0
    rates = (
        result.placement_rate,
        result.median_days_to_placement,
        result.median_starting_wage,
        result.referral_share,
        result.retention_90.rate,
        result.people_links_per_participant,
        result.outreach_per_participant,
        result.response_rate,
        result.employed_q2_after_exit,
    )
    assert rates == (None,) * len(rates)


# --- retention -------------------------------------------------------------------------------------------------------


def _one_job(start: str = "2025-01-01") -> tuple[History, uuid.UUID, uuid.UUID]:
    history = History()
    participant = history.enrol("2024-12-02")
    job = history.hire(participant, start)
    return history, participant, job


def test_retention_eligibility_needs_the_milestone_on_or_before_as_of() -> None:
    history, _, _ = _one_job("2025-01-01")

    assert figures(history, "2024-01-01", "2025-12-31", "2025-01-30").retention_30.eligible == 0
    assert figures(history, "2024-01-01", "2025-12-31", "2025-01-31").retention_30.eligible == 1


def test_verification_on_the_milestone_retains_and_the_day_before_leaves_it_unknown() -> None:
    history, participant, job = _one_job("2025-01-01")
    history.verify(participant, job, "2025-01-30")
    verified_late = _one_job("2025-01-01")
    verified_late[0].verify(verified_late[1], verified_late[2], "2025-01-31")

    early = figures(history, "2024-01-01", "2025-12-31", "2025-12-31").retention_30
    on_time = figures(verified_late[0], "2024-01-01", "2025-12-31", "2025-12-31").retention_30

    assert (early.retained, early.unknown, early.rate) == (0, 1, 0.0)
    assert (on_time.retained, on_time.unknown, on_time.rate) == (1, 0, 1.0)


def test_job_ended_before_the_milestone_is_lost_and_after_it_retained() -> None:
    history, participant, job = _one_job("2025-01-01")
    history.end_job(participant, job, "2025-03-15", reason="fired")

    result = figures(history, "2024-01-01", "2025-12-31", "2025-12-31")

    assert (result.retention_30.retained, result.retention_30.lost) == (1, 0)
    assert (result.retention_90.retained, result.retention_90.lost) == (0, 1)
    assert (result.retention_180.retained, result.retention_180.lost) == (0, 1)


def test_job_end_dated_after_as_of_has_not_happened() -> None:
    history, participant, job = _one_job("2025-01-01")
    history.event(participant, "job_ended", at("2025-02-10"), job_id=job, ended_on="2025-03-01", reason="quit")

    before_end = figures(history, "2024-01-01", "2025-12-31", "2025-02-15").retention_30
    after_end = figures(history, "2024-01-01", "2025-12-31", "2025-03-01").retention_30

    assert (before_end.retained, before_end.unknown) == (0, 1)
    assert (after_end.retained, after_end.unknown) == (1, 0)


def test_voided_verification_does_not_retain() -> None:
    history, participant, job = _one_job("2025-01-01")
    verification = history.verify(participant, job, "2025-02-15")
    history.void_in(participant, verification, at("2025-02-20"))

    assert figures(history, "2024-01-01", "2025-12-31", "2025-02-19").retention_30.retained == 1
    assert figures(history, "2024-01-01", "2025-12-31", "2025-02-20").retention_30.unknown == 1


@pytest.mark.parametrize(
    ("next_start", "as_of", "expected"),
    [
        ("2025-02-08", "2025-12-31", "retained"),  # ended_on + 14
        ("2025-02-09", "2025-12-31", "lost"),  # ended_on + 15
        ("2025-01-15", "2025-12-31", "retained"),  # before ended_on, after the first job's start
        ("2025-02-05", "2025-02-01", "lost"),  # the next job has not started by as_of
        ("2025-02-05", "2025-02-05", "retained"),
    ],
)
def test_moved_to_better_job_is_retained_only_when_the_next_job_starts_within_14_days(
    next_start: str, as_of: str, expected: str
) -> None:
    history, participant, job = _one_job("2025-01-01")
    history.end_job(participant, job, "2025-01-25", reason="moved_to_better_job")
    history.hire(participant, next_start, occurred_at=at("2025-01-10"))

    retention = figures(history, "2024-01-01", "2025-12-31", as_of).retention_30

    assert {"retained": retention.retained, "lost": retention.lost}[expected] == 1


def test_other_end_reasons_before_the_milestone_are_lost_even_with_a_next_job() -> None:
    history, participant, job = _one_job("2025-01-01")
    history.end_job(participant, job, "2025-01-25", reason="laid_off")
    history.hire(participant, "2025-01-26")

    assert figures(history, "2024-01-01", "2025-12-31", "2025-12-31").retention_30.lost == 1


def test_retention_by_source_splits_the_90_day_figure_by_first_hire_source() -> None:
    history = History()
    for source, verified_on in (("referral", "2025-04-15"), ("referral", None), ("online_application", "2025-04-15")):
        participant = history.enrol("2024-12-02")
        job = history.hire(participant, "2025-01-01", source=source)
        if verified_on:
            history.verify(participant, job, verified_on)

    by_source = figures(history, "2024-01-01", "2025-12-31", "2025-12-31").retention_by_source_90

    assert (by_source["referral"].eligible, by_source["referral"].retained, by_source["referral"].rate) == (2, 1, 0.5)
    assert by_source["online_application"].rate == 1.0
    assert (by_source["walk_in"].eligible, by_source["walk_in"].rate) == (0, None)


# --- second job or promotion ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("promoted_on", "counted"),
    [("2025-02-03", True), ("2026-02-03", True), ("2026-02-04", False)],
)
def test_promotion_counts_from_day_0_to_day_365(promoted_on: str, counted: bool) -> None:
    history, participant, job = _one_job("2025-02-03")
    history.promote(participant, job, promoted_on)

    assert figures(history, "2024-01-01", "2025-12-31", "2026-12-31").second_job_or_promotion == int(counted)


def test_second_hire_on_day_366_or_after_as_of_or_voided_does_not_count() -> None:
    history, participant, _ = _one_job("2025-02-03")
    history.hire(participant, "2026-02-04")
    history.hire(participant, "2025-06-01", occurred_at=at("2025-05-01"))
    history.void_in(participant, history.last_event, at("2025-05-20"))
    history.hire(participant, "2025-08-01", occurred_at=at("2025-07-01"))

    assert figures(history, "2024-01-01", "2025-12-31", "2025-07-31").second_job_or_promotion == 0
    assert figures(history, "2024-01-01", "2025-12-31", "2025-08-01").second_job_or_promotion == 1


def test_promotion_dated_after_as_of_does_not_count_yet() -> None:
    history, participant, job = _one_job("2025-02-03")
    history.promote(participant, job, "2025-10-05", occurred_at=at("2025-09-29"))

    assert figures(history, "2024-01-01", "2025-12-31", "2025-09-30").second_job_or_promotion == 0
    assert figures(history, "2024-01-01", "2025-12-31", "2025-10-05").second_job_or_promotion == 1


def test_promotion_of_a_voided_job_does_not_count() -> None:
    history, participant, job = _one_job("2025-02-03")
    voided_job = history.hire(participant, "2025-03-01")
    history.void_in(participant, history.last_event, at("2025-03-05"))
    history.promote(participant, voided_job, "2025-04-01")

    assert figures(history, "2024-01-01", "2025-12-31", "2025-12-31").second_job_or_promotion == 0
    del job


# --- People Links ----------------------------------------------------------------------------------------------------


def test_referral_named_by_an_application_and_a_hire_via_the_same_contact_make_one_link() -> None:
    history = History()
    contact = history.add_contact()
    participant = history.enrol("2025-02-03")
    referral = history.refer(participant, contact, at("2025-02-10"))
    history.apply_for(participant, at("2025-02-12"), referral=referral)
    history.hire(participant, "2025-03-03", via=contact, source="referral")

    assert figures(history, "2025-01-01", "2025-12-31", "2025-12-31").people_links_per_participant == 1.0


def test_referral_without_an_application_is_not_a_link() -> None:
    history = History()
    contact = history.add_contact()
    participant = history.enrol("2025-02-03")
    history.refer(participant, contact, at("2025-02-10"))
    history.apply_for(participant, at("2025-02-12"))

    assert figures(history, "2025-01-01", "2025-12-31", "2025-12-31").people_links_per_participant == 0.0


def test_voided_referral_stops_being_a_link_from_the_date_of_the_void() -> None:
    history = History()
    contact = history.add_contact()
    participant = history.enrol("2025-02-03")
    referral = history.refer(participant, contact, at("2025-02-10"))
    referral_event = history.last_event
    history.apply_for(participant, at("2025-02-12"), referral=referral)
    history.void_in(participant, referral_event, at("2025-03-01"))

    assert figures(history, "2025-01-01", "2025-12-31", "2025-02-28").people_links_per_participant == 1.0
    assert figures(history, "2025-01-01", "2025-12-31", "2025-03-01").people_links_per_participant == 0.0


def test_no_people_link_runs_through_a_voided_contact() -> None:
    history = History()
    contact = history.add_contact()
    history.void(f"contact-{contact}", history.last_event, at("2025-06-01"))
    participant = history.enrol("2025-02-03")
    history.hire(participant, "2025-03-03", via=contact)

    assert figures(history, "2025-01-01", "2025-12-31", "2025-05-31").people_links_per_participant == 1.0
    assert figures(history, "2025-01-01", "2025-12-31", "2025-06-01").people_links_per_participant == 0.0


def test_hire_via_a_contact_links_only_once_it_has_started_and_any_hire_counts() -> None:
    history = History()
    first_contact, second_contact = history.add_contact(), history.add_contact()
    participant = history.enrol("2025-02-03")
    history.hire(participant, "2025-03-03")
    history.hire(participant, "2025-08-04", via=first_contact, occurred_at=at("2025-07-01"))
    history.hire(participant, "2026-01-05", via=second_contact, occurred_at=at("2025-12-20"))

    assert figures(history, "2025-01-01", "2025-12-31", "2025-08-03").people_links_per_participant == 0.0
    assert figures(history, "2025-01-01", "2025-12-31", "2025-12-31").people_links_per_participant == 1.0
    assert figures(history, "2025-01-01", "2025-12-31", "2026-01-05").people_links_per_participant == 2.0


# --- outreach --------------------------------------------------------------------------------------------------------


def test_outreach_per_participant_counts_outreach_from_from_to_as_of_even_after_to() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    history.enrol("2025-01-06")
    history.outreach(participant, at("2024-12-31", "23:59:59"))
    answered = history.outreach(participant, at("2025-01-01", "00:00:00"))
    history.respond(participant, answered, at("2025-01-02"))
    history.outreach(participant, at("2026-01-15"))
    history.outreach(participant, at("2026-02-01"))

    result = figures(history, "2025-01-01", "2025-12-31", "2026-01-31")

    assert result.outreach_per_participant == 1.0
    assert result.response_rate == 0.5


def test_response_to_a_voided_outreach_does_not_count() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    outreach = history.outreach(participant, at("2025-02-01"))
    history.void_in(participant, history.last_event, at("2025-02-02"))
    history.respond(participant, outreach, at("2025-02-03"))
    kept = history.outreach(participant, at("2025-02-04"))
    del kept

    result = figures(history, "2025-01-01", "2025-12-31", "2025-12-31")

    assert result.outreach_per_participant == 1.0
    assert result.response_rate == 0.0


# --- WIOA-style and custody ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exited_on", "as_of", "q2", "q4"),
    [
        ("2025-11-20", "2026-06-30", 1.0, None),  # Q4 exit: 2nd quarter after is 2026-Q2, over on as_of
        ("2025-11-20", "2026-06-29", None, None),
        ("2025-11-20", "2026-12-31", 1.0, 0.0),  # 4th quarter after is 2026-Q4: the job ended before it
        ("2026-01-02", "2026-09-30", 0.0, None),  # Q1 exit: 2nd quarter after is 2026-Q3, job ended before it
    ],
)
def test_employment_in_the_second_and_fourth_quarter_after_exit(
    exited_on: str, as_of: str, q2: float | None, q4: float | None
) -> None:
    history = History()
    participant = history.enrol("2025-03-03")
    job = history.hire(participant, "2025-09-01")
    history.exit(participant, exited_on, reason="employed")
    history.end_job(participant, job, "2026-04-01" if exited_on < "2026" else "2026-06-30", reason="laid_off")

    result = figures(history, "2025-01-01", "2025-12-31", as_of)

    assert (result.employed_q2_after_exit, result.employed_q4_after_exit) == (q2, q4)


@pytest.mark.parametrize(
    ("ended_on", "employed"),
    [("2025-07-01", 1.0), ("2025-06-30", 0.0)],
)
def test_a_job_ending_on_the_quarters_first_day_still_counts(ended_on: str, employed: float) -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    job = history.hire(participant, "2025-01-20")
    history.exit(participant, "2025-02-14")
    history.end_job(participant, job, ended_on)

    assert figures(history, "2025-01-01", "2025-12-31", "2025-09-30").employed_q2_after_exit == employed


def test_a_job_starting_on_the_quarters_last_day_counts() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    history.exit(participant, "2025-03-31", reason="disengaged")
    history.hire(participant, "2025-09-30", occurred_at=at("2025-09-24"))

    assert figures(history, "2025-01-01", "2025-12-31", "2025-09-30").employed_q2_after_exit == 1.0


def test_reincarcerated_exit_counts_in_custody_and_never_in_wioa() -> None:
    history = History()
    reincarcerated = history.enrol("2025-01-06")
    history.hire(reincarcerated, "2025-01-20")
    history.exit(reincarcerated, "2025-02-14", reason="reincarcerated")
    completed = history.enrol("2025-01-06")
    history.exit(completed, "2025-02-14")

    result = figures(history, "2025-01-01", "2025-12-31", "2025-12-31")
    populations = report(history, "2025-01-01", "2025-12-31", "2025-12-31").populations

    assert result.returned_to_custody == 1
    assert (populations.q2_eligible, result.employed_q2_after_exit) == (1, 0.0)


def test_exit_dated_after_as_of_or_voided_has_not_happened() -> None:
    history = History()
    later = history.enrol("2025-01-06")
    history.event(later, "participant_exited", at("2025-02-01"), exited_on="2025-03-01", reason="reincarcerated")
    voided = history.enrol("2025-01-06")
    exit_event = history.exit(voided, "2025-02-01", reason="reincarcerated")
    history.void_in(voided, exit_event, at("2025-02-03"))

    assert figures(history, "2025-01-01", "2025-12-31", "2025-02-28").returned_to_custody == 0
    assert figures(history, "2025-01-01", "2025-12-31", "2025-03-01").returned_to_custody == 1


# --- counselor and breakdowns ----------------------------------------------------------------------------------------


def test_counselor_is_the_latest_assignment_by_as_of_with_ties_to_the_higher_position() -> None:
    history = History()
    third = uuid.uuid4()
    participant = history.enrol("2025-01-06")
    history.assign(participant, OTHER_COUNSELOR, at("2025-02-01", "10:00:00"))
    history.assign(participant, third, at("2025-02-01", "10:00:00"))
    late = history.assign(participant, OTHER_COUNSELOR, at("2025-05-01"))
    history.void_in(participant, late, at("2025-06-01"))

    def counselors(as_of: str) -> list[str]:
        return list(report(history, "2025-01-01", "2025-12-31", as_of).breakdowns["counselor"])

    assert counselors("2025-01-31") == [str(history_counselor(history))]
    assert counselors("2025-02-01") == [str(third)]
    assert counselors("2025-05-01") == [str(OTHER_COUNSELOR)]
    assert counselors("2025-06-01") == [str(third)]


def history_counselor(history: History) -> uuid.UUID:
    enrolment = history.envelopes[0].data["counselor_id"]
    assert isinstance(enrolment, str)
    return uuid.UUID(enrolment)


def test_breakdowns_group_profile_values_with_unknown_and_boolean_keys() -> None:
    history = History()
    history.enrol("2025-01-06", cohort="spring", age_band="25-34", veteran=True, gender="woman")
    history.enrol("2025-01-06", veteran=False)
    placed = history.enrol("2025-01-06", cohort="spring", race_ethnicity="Black")
    history.hire(placed, "2025-02-01")

    breakdowns = report(history, "2025-01-01", "2025-12-31", "2025-12-31").breakdowns

    assert list(breakdowns) == ["counselor", "cohort", "age_band", "gender", "race_ethnicity", "veteran"]
    assert {key: group.figures.enrolled for key, group in breakdowns["cohort"].items()} == {"spring": 2, "unknown": 1}
    assert {key: group.figures.enrolled for key, group in breakdowns["veteran"].items()} == {
        "false": 1,
        "true": 1,
        "unknown": 1,
    }
    assert set(breakdowns["age_band"]) == {"25-34", "unknown"}
    assert breakdowns["race_ethnicity"]["Black"].figures.placed == 1
    assert breakdowns["race_ethnicity"]["unknown"].figures.placement_rate == 0.0


def test_every_breakdown_adds_up_to_the_whole_report() -> None:
    history = History()
    for index, cohort in enumerate(("a", "b", "a", None, "b")):
        participant = history.enrol("2025-01-06", cohort=cohort, gender="x" if index % 2 else None)
        if index % 3 != 1:
            history.hire(participant, f"2025-0{index + 2}-01")

    result = report(history, "2025-01-01", "2025-12-31", "2025-12-31")

    for groups in result.breakdowns.values():
        assert sum(group.figures.enrolled for group in groups.values()) == result.figures.enrolled
        assert sum(group.figures.placed for group in groups.values()) == result.figures.placed


# --- reproducible reports --------------------------------------------------------------------------------------------


def test_as_of_position_ignores_events_and_voids_appended_after_it() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    history.hire(participant, "2025-02-01")
    position = history.position
    history.void_in(participant, history.last_event, at("2025-02-05"))
    history.hire(history.enrol("2025-01-06"), "2025-03-01")

    reproduced = figures(history, "2025-01-01", "2025-12-31", "2025-12-31", as_of_position=position)
    fresh = figures(history, "2025-01-01", "2025-12-31", "2025-12-31")

    assert (reproduced.enrolled, reproduced.placed) == (1, 1)
    assert (fresh.enrolled, fresh.placed) == (2, 1)


def test_as_of_horizon_leaves_out_events_and_voids_whose_transaction_is_not_below_it() -> None:
    """Appends in flight when a position was pinned commit later with a transaction id at or above its horizon."""
    history = History()
    first = history.enrol("2025-01-06")
    history.hire(first, "2025-02-01")
    second = history.enrol("2025-01-06")
    history.hire(second, "2025-02-01")
    history.void_in(second, history.last_event, at("2025-02-05"))
    # Transaction ids: the first hire and the void committed after the others (in flight at horizon 5).
    txs = [1, 5, 2, 3, 6]
    history.envelopes = [msgspec.structs.replace(e, tx=tx) for e, tx in zip(history.envelopes, txs, strict=True)]
    everything = history.position

    pinned = figures(history, "2025-01-01", "2025-12-31", "2025-12-31", as_of_position=everything, as_of_horizon=5)
    later = figures(history, "2025-01-01", "2025-12-31", "2025-12-31", as_of_position=everything, as_of_horizon=6)
    fresh = figures(history, "2025-01-01", "2025-12-31", "2025-12-31")

    assert (pinned.enrolled, pinned.placed) == (2, 1)  # the second's hire; neither the first's nor the void
    assert later.placed == 2  # the first's hire too; the void still not
    assert fresh.placed == 1  # the first's hire; the second's voided


def test_report_depends_only_on_the_facts_and_parameters() -> None:
    history, participant, job = _one_job("2025-01-01")
    history.verify(participant, job, "2025-05-01")
    facts = history.facts()
    report_params = params("2024-01-01", "2025-12-31", "2025-12-31", time_zone=dt.UTC)

    assert outcome_report(facts, report_params) == outcome_report(facts, report_params)
    assert outcome_report(facts, report_params) == outcome_report(history.facts(), report_params)


@settings(max_examples=80, deadline=None)
@given(
    sends=st.lists(st.tuples(st.integers(0, 70), st.none() | st.integers(0, 20)), max_size=12),
    variant=st.sampled_from(["plain", "unrelated void", "later event"]),
    as_of=st.sampled_from([dt.date(2025, 2, 28), dt.date(2025, 12, 31)]),
)
def test_outreach_figures_equal_a_direct_count_whatever_else_the_participant_has(
    sends: list[tuple[int, int | None]], variant: str, as_of: dt.date
) -> None:
    """Whether every record counts (read from the participant's outreach index) or not (read one by one)."""
    history = History()
    # Enrolled on the first day of the report, recorded earlier, so that outreach before ``from`` can exist.
    participant = history.enrol("2025-01-15", occurred_at=at("2025-01-02"))
    first_day, from_ = dt.date(2025, 1, 5), dt.date(2025, 1, 15)
    for offset, reply_after in sends:
        sent_at = dt.datetime.combine(first_day + dt.timedelta(days=offset), dt.time(15), dt.UTC)
        outreach = history.outreach(participant, sent_at)
        if reply_after is not None:
            history.respond(participant, outreach, sent_at + dt.timedelta(days=reply_after))
    if variant == "unrelated void":
        history.void_in(participant, history.assign(participant, OTHER_COUNSELOR, at("2025-01-03")), at("2025-01-04"))
    elif variant == "later event":
        history.outreach(participant, at("2026-03-10"))
    in_range = [(offset, reply) for offset, reply in sends if from_ <= first_day + dt.timedelta(days=offset) <= as_of]
    answered = [
        offset for offset, reply in in_range if reply is not None and first_day + dt.timedelta(offset + reply) <= as_of
    ]

    result = figures(history, from_.isoformat(), "2025-12-31", as_of.isoformat())

    assert result.outreach_per_participant == len(in_range)
    assert result.response_rate == (len(answered) / len(in_range) if in_range else None)
