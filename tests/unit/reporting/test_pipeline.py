"""The participant pipeline and the programme funnel on hand-built logs."""

from __future__ import annotations

import uuid
from typing import Any

from domain.reporting.pipeline import Funnel, Pipeline, participant_pipeline, programme_funnel
from domain.reporting.snapshot import ViewParams
from tests.unit.reporting.history import COUNSELOR, OTHER_COUNSELOR, History, at, on


def pipeline(history: History, participant: uuid.UUID, as_of: str) -> Pipeline:
    found = participant_pipeline(history.facts(), participant, ViewParams(as_of=on(as_of)))
    assert found is not None
    return found


def funnel(history: History, as_of: str, **extra: Any) -> Funnel:
    return programme_funnel(history.facts(), ViewParams(as_of=on(as_of), **extra))


def meet(history: History, participant: uuid.UUID, day: str) -> None:
    history.event(
        participant,
        "meeting_held",
        at(day),
        meeting_id=uuid.uuid4(),
        contact_id=uuid.uuid4(),
        format="in_person",
        kind="coffee",
    )


def interview(history: History, participant: uuid.UUID, application: uuid.UUID, day: str) -> None:
    history.event(participant, "interview_held", at(day), application_id=application)


def test_pipeline_gives_the_date_of_each_first() -> None:
    history = History()
    participant = history.enrol("2025-01-02", cohort="spring")
    contact = history.add_contact()
    first = history.outreach(participant, at("2025-01-10"), contact=contact)
    history.outreach(participant, at("2025-01-08", "23:30:00"), contact=contact)
    history.respond(participant, first, at("2025-01-12"))
    meet(history, participant, "2025-01-15")
    referral = history.refer(participant, contact, at("2025-01-20"))
    application = history.apply_for(participant, at("2025-01-22"), referral=referral)
    interview(history, participant, application, "2025-01-29")
    history.hire(participant, "2025-02-10", occurred_at=at("2025-02-01"), application=application)

    result = pipeline(history, participant, "2025-03-01")

    assert (result.enrolled_on, result.cohort, result.counselor_id) == (on("2025-01-02"), "spring", COUNSELOR)
    assert [
        result.first_outreach_on,
        result.first_response_on,
        result.first_meeting_on,
        result.first_referral_on,
        result.first_application_on,
        result.first_interview_on,
        result.first_hire_on,
    ] == [
        on(day)
        for day in ["2025-01-08", "2025-01-12", "2025-01-15", "2025-01-20", "2025-01-22", "2025-01-29", "2025-02-10"]
    ]


def test_first_hire_is_the_first_job_start_and_not_before_it_starts() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    history.hire(participant, "2025-02-10", occurred_at=at("2025-02-01"))

    assert (
        pipeline(history, participant, "2025-02-09").first_hire_on,
        pipeline(history, participant, "2025-02-09").jobs,
    ) == (
        None,
        0,
    )
    assert pipeline(history, participant, "2025-02-10").first_hire_on == on("2025-02-10")


def test_voided_events_and_what_they_created_are_not_firsts() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    outreach = history.outreach(participant, at("2025-01-10"))
    voided_outreach = history.last_event
    history.respond(participant, outreach, at("2025-01-12"))
    application = history.apply_for(participant, at("2025-01-22"))
    voided_application = history.last_event
    interview(history, participant, application, "2025-01-29")
    history.void_in(participant, voided_outreach, at("2025-02-01"))
    history.void_in(participant, voided_application, at("2025-02-01"))

    result = pipeline(history, participant, "2025-02-01")

    assert [
        result.first_outreach_on,
        result.first_response_on,
        result.first_application_on,
        result.first_interview_on,
    ] == [None] * 4


def test_gives_and_asks_count_outreach_by_purpose() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    for day, purpose in enumerate(
        [
            "offer_help",
            "congratulations",
            "thank_you",
            "ask_for_meeting",
            "ask_for_referral",
            "ask_for_referral",
            "introduction",
        ],
        start=10,
    ):
        history.outreach(participant, at(f"2025-01-{day}"), purpose=purpose)

    result = pipeline(history, participant, "2025-02-01")

    assert (result.gives, result.asks) == (3, 3)


def test_current_job_with_retention_milestones_verified() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    first = history.hire(participant, "2025-02-01")
    history.end_job(participant, first, "2025-02-20", reason="moved_to_better_job")
    current = history.hire(participant, "2025-03-01")
    history.verify(participant, current, "2025-06-05")

    result = pipeline(history, participant, "2025-07-01")

    assert result.jobs == 2
    assert result.current_job is not None
    assert (result.current_job.job_id, result.current_job.milestones_reached) == (current, [30, 90])
    assert result.first_hire_on == on("2025-02-01")


def test_no_current_job_once_the_only_job_ended() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    job = history.hire(participant, "2025-02-01")
    history.end_job(participant, job, "2025-03-20")
    history.exit(participant, "2025-04-01")

    before = pipeline(history, participant, "2025-03-19")
    after = pipeline(history, participant, "2025-04-01")

    assert before.current_job is not None
    assert (after.current_job, after.jobs, after.exited_on) == (None, 1, on("2025-04-01"))


def test_pipeline_of_a_participant_placed_through_a_people_link_then_moved_on() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    friend = history.add_contact()
    history.outreach(participant, at("2025-01-06"), contact=friend, purpose="ask_for_meeting")
    history.outreach(participant, at("2025-01-07"), contact=friend, purpose="offer_help")
    meet(history, participant, "2025-01-09")
    referral = history.refer(participant, friend, at("2025-01-13"))
    application = history.apply_for(participant, at("2025-01-14"), referral=referral)
    first = history.hire(participant, "2025-01-27", occurred_at=at("2025-01-21"), via=friend, application=application)
    history.outreach(participant, at("2025-01-22"), contact=friend, purpose="thank_you")
    history.end_job(participant, first, "2025-03-14", reason="moved_to_better_job")
    better = history.hire(participant, "2025-03-17", occurred_at=at("2025-03-10"))
    history.verify(participant, better, "2025-04-20")
    # Signed for a job that has not started yet: recorded, not a job of the pipeline.
    history.hire(participant, "2025-06-02", occurred_at=at("2025-05-01"))

    result = pipeline(history, participant, "2025-05-02")

    assert [
        result.first_outreach_on,
        result.first_response_on,
        result.first_meeting_on,
        result.first_referral_on,
        result.first_application_on,
        result.first_interview_on,
        result.first_hire_on,
    ] == [on("2025-01-06"), None, on("2025-01-09"), on("2025-01-13"), on("2025-01-14"), None, on("2025-01-27")]
    assert result.jobs == 2
    assert result.current_job is not None
    assert (result.current_job.job_id, result.current_job.start_date, result.current_job.milestones_reached) == (
        better,
        on("2025-03-17"),
        [30],
    )
    assert (result.gives, result.asks, result.exited_on) == (2, 1, None)


def test_pipeline_of_a_participant_who_does_not_exist_is_none() -> None:
    history = History()
    participant = history.enrol("2025-03-01")

    assert participant_pipeline(history.facts(), participant, ViewParams(as_of=on("2025-02-28"))) is None
    assert participant_pipeline(history.facts(), uuid.uuid4(), ViewParams(as_of=on("2025-03-28"))) is None


def test_funnel_counts_participants_who_reached_each_step() -> None:
    history = History()
    idle = history.enrol("2025-01-02")
    reaching = history.enrol("2025-01-02")
    outreach = history.outreach(reaching, at("2025-01-10"))
    history.respond(reaching, outreach, at("2025-01-11"))
    hired = history.enrol("2025-01-02", cohort="spring")
    history.outreach(hired, at("2025-01-10"))
    history.outreach(hired, at("2025-01-11"))
    application = history.apply_for(hired, at("2025-01-22"))
    interview(history, hired, application, "2025-01-29")
    history.hire(hired, "2025-02-10")

    assert funnel(history, "2025-03-01") == Funnel(
        enrolled=3, outreach=2, response=1, meeting=0, referral=0, application=1, interview=1, hire=1
    )
    assert funnel(history, "2025-02-01").hire == 0
    assert funnel(history, "2025-03-01", cohort="spring").enrolled == 1
    assert idle != reaching


def test_funnel_is_over_participants_existing_as_of_its_day_and_of_the_counselor_asked_for() -> None:
    history = History()
    history.enrol("2025-01-02")
    later = history.enrol("2025-02-02")
    history.assign(later, OTHER_COUNSELOR, at("2025-02-03"))
    voided = history.enrol("2025-01-02")
    history.void_in(voided, history.last_event, at("2025-01-05"))

    assert funnel(history, "2025-01-31").enrolled == 1
    assert funnel(history, "2025-03-01").enrolled == 2
    assert funnel(history, "2025-03-01", counselor_id=OTHER_COUNSELOR).enrolled == 1
    assert funnel(history, "2025-02-02", counselor_id=OTHER_COUNSELOR).enrolled == 0
