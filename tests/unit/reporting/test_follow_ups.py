"""The follow-up queue on hand-built logs: one behaviour of ``reports.md`` per test."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.reporting.facts import ContactEmployer, EventEnvelope, Facts, facts_from_events
from domain.reporting.follow_ups import (
    FollowUpItem,
    FollowUpKind,
    FollowUpParams,
    follow_up_queue,
    suggest_channel,
)
from domain.reporting.scope import AsOf
from domain.reporting.snapshot import looking_from
from tests.generators import programme_log
from tests.unit.reporting.history import COUNSELOR, EMPLOYER, OTHER_COUNSELOR, History, at, on

OTHER_EMPLOYER = uuid.UUID("00000000-0000-4000-8000-000000000302")


def queue(history: History, as_of: str, **extra: Any) -> list[FollowUpItem]:
    return follow_up_queue(history.facts(), FollowUpParams(as_of=on(as_of), **extra))


def kinds(items: list[FollowUpItem], *wanted: FollowUpKind) -> list[FollowUpItem]:
    return [item for item in items if item.kind in wanted]


def due_outreach(history: History, as_of: str) -> list[FollowUpItem]:
    return kinds(queue(history, as_of), "follow_up", "exhausted")


def thread(history: History, participant: uuid.UUID, channels: list[str], start: str = "2025-03-01") -> list[uuid.UUID]:
    """A chain of outreaches to one contact, each following up the previous one, a day apart."""
    contact = uuid.uuid4()
    outreaches: list[uuid.UUID] = []
    day = on(start)
    for channel in channels:
        outreaches.append(
            history.outreach(
                participant,
                at(day.isoformat()),
                contact=contact,
                channel=channel,
                follow_up_of=outreaches[-1] if outreaches else None,
            )
        )
        day += dt.timedelta(days=1)
    return outreaches


def add_contact(history: History, employer: uuid.UUID | None = None) -> uuid.UUID:
    contact = uuid.uuid4()
    data: dict[str, object] = {"name": "A Contact"}
    if employer is not None:
        data["employer_id"] = str(employer)
    history.last_event = history.append(f"contact-{contact}", "contact_added", at("2024-01-01"), data)
    return contact


def close(
    history: History,
    participant: uuid.UUID,
    application: uuid.UUID,
    day: str,
    outcome: str = "rejected",
    time: str = "12:00:00",
) -> None:
    history.event(participant, "application_closed", at(day, time), application_id=application, outcome=outcome)


def meet(history: History, participant: uuid.UUID, contact: uuid.UUID, day: str) -> None:
    history.event(
        participant,
        "meeting_held",
        at(day),
        meeting_id=uuid.uuid4(),
        contact_id=contact,
        format="in_person",
        kind="coffee",
    )


# --- follow_up: when an outreach is due -------------------------------------------------------------------------------


def test_unanswered_outreach_is_not_due_before_seven_days() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    history.outreach(participant, at("2025-03-01", "23:00:00"))

    assert due_outreach(history, "2025-03-07") == []


def test_unanswered_outreach_is_due_at_exactly_seven_days() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    outreach = history.outreach(participant, at("2025-03-01", "23:00:00"))

    [item] = due_outreach(history, "2025-03-08")

    assert (item.kind, item.outreach_id, item.due_on, item.counselor_id) == (
        "follow_up",
        outreach,
        on("2025-03-08"),
        COUNSELOR,
    )
    assert (item.attempts, item.unanswered, item.suggested_channel) == (1, 1, "email")


def test_seven_days_counts_calendar_days_in_the_programme_time_zone() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    # 2025-03-02 03:00 UTC is 2025-03-01 in New York.
    history.outreach(participant, at("2025-03-02", "03:00:00"))
    zone = dt.timezone(dt.timedelta(hours=-5))

    assert len(kinds(queue(history, "2025-03-08", time_zone=zone), "follow_up")) == 1
    assert kinds(queue(history, "2025-03-08"), "follow_up") == []


def test_follow_up_after_days_is_a_programme_setting() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    history.outreach(participant, at("2025-03-01"))

    assert len(kinds(queue(history, "2025-03-04", follow_up_after_days=3), "follow_up")) == 1
    assert kinds(queue(history, "2025-03-04"), "follow_up") == []


def test_answered_outreach_is_not_due() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    outreach = history.outreach(participant, at("2025-03-01"))
    history.respond(participant, outreach, at("2025-03-20"))

    assert len(due_outreach(history, "2025-03-19")) == 1
    assert due_outreach(history, "2025-03-20") == []


def test_follow_up_of_a_follow_up_is_the_one_due_with_the_whole_thread_counted() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    first, second, third = thread(history, participant, ["email", "phone", "phone"])

    [item] = due_outreach(history, "2025-04-01")

    assert item.outreach_id == third
    assert (item.attempts, item.unanswered) == (3, 3)
    assert first != second


def test_first_unanswered_email_suggests_email_again() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    thread(history, participant, ["email"])

    [item] = due_outreach(history, "2025-04-01")

    assert item.suggested_channel == "email"


def test_second_unanswered_email_suggests_phone() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    thread(history, participant, ["email", "email"])

    [item] = due_outreach(history, "2025-04-01")

    assert item.suggested_channel == "phone"


def test_switch_skips_channels_the_thread_used_twice() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    thread(history, participant, ["phone", "phone", "email", "email"])

    [item] = due_outreach(history, "2025-04-01")

    assert item.suggested_channel == "text"


def test_two_attempts_on_a_channel_count_across_the_thread_not_only_in_a_row() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    thread(history, participant, ["email", "phone", "email"])

    [item] = due_outreach(history, "2025-04-01")

    assert item.suggested_channel == "phone"


def test_channel_suggestion_wraps_round_and_starts_at_email_from_outside_the_order() -> None:
    assert suggest_channel("in_person", {"in_person": 2}) == "email"
    assert suggest_channel("in_person", {"in_person": 2, "email": 2, "phone": 2}) == "text"
    assert suggest_channel("linkedin", {"linkedin": 1}) == "linkedin"
    assert suggest_channel("linkedin", {"linkedin": 2, "email": 2}) == "phone"
    assert suggest_channel("email", dict.fromkeys(["email", "phone", "text", "letter", "in_person"], 2)) is None


def test_thread_with_six_unanswered_attempts_is_exhausted() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    outreaches = thread(history, participant, ["email", "email", "phone", "phone", "text", "text"])

    [item] = due_outreach(history, "2025-04-01")

    assert (item.kind, item.outreach_id, item.attempts, item.suggested_channel) == (
        "exhausted",
        outreaches[-1],
        6,
        None,
    )


def test_five_unanswered_attempts_are_not_exhausted() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    thread(history, participant, ["email", "email", "phone", "phone", "text"])

    [item] = due_outreach(history, "2025-04-01")

    assert (item.kind, item.suggested_channel) == ("follow_up", "text")


def test_an_answered_attempt_does_not_count_towards_exhaustion() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    outreaches = thread(history, participant, ["email", "email", "phone", "phone", "text", "text"])
    history.respond(participant, outreaches[0], at("2025-03-01", "18:00:00"))

    [item] = due_outreach(history, "2025-04-01")

    assert (item.kind, item.attempts, item.unanswered) == ("follow_up", 6, 5)


def test_a_voided_follow_up_makes_the_outreach_it_followed_up_due_again() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    first, _ = thread(history, participant, ["email", "email"])
    history.void_in(participant, history.last_event, at("2025-03-20"))

    [before] = due_outreach(history, "2025-03-19")
    [after] = due_outreach(history, "2025-03-20")

    assert (before.attempts, before.suggested_channel) == (2, "phone")
    assert (after.outreach_id, after.attempts, after.suggested_channel) == (first, 1, "email")


def test_a_voided_outreach_is_not_due_and_leaves_its_follow_up_a_thread_of_its_own() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    first = history.outreach(participant, at("2025-03-01"))
    voided = history.last_event
    second = history.outreach(participant, at("2025-03-02"), follow_up_of=first)
    history.void_in(participant, voided, at("2025-03-03"))

    [item] = due_outreach(history, "2025-04-01")

    assert (item.outreach_id, item.attempts, item.suggested_channel) == (second, 1, "email")


def test_a_voided_response_leaves_its_outreach_unanswered_from_the_void_on() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    outreach = history.outreach(participant, at("2025-03-01"))
    response = history.respond(participant, outreach, at("2025-03-02"))
    history.void_in(participant, response, at("2025-03-20"))

    assert due_outreach(history, "2025-03-19") == []
    assert [item.outreach_id for item in due_outreach(history, "2025-03-20")] == [outreach]


def test_a_response_answers_nothing_once_its_outreach_is_voided() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    first = history.outreach(participant, at("2025-03-01"))
    voided = history.last_event
    history.respond(participant, first, at("2025-03-02"))
    second = history.outreach(participant, at("2025-03-03"), follow_up_of=first)
    history.void_in(participant, voided, at("2025-03-20"))

    before = due_outreach(history, "2025-03-19")
    [after] = due_outreach(history, "2025-03-20")

    assert [(item.outreach_id, item.attempts, item.unanswered) for item in before] == [(second, 2, 1)]
    assert (after.outreach_id, after.attempts, after.unanswered) == (second, 1, 1)


def test_an_exit_stops_follow_ups_from_its_exit_date() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    history.outreach(participant, at("2025-03-01"))
    history.event(participant, "participant_exited", at("2025-03-10"), exited_on="2025-03-15", reason="completed")

    assert len(due_outreach(history, "2025-03-14")) == 1
    assert due_outreach(history, "2025-03-15") == []


def test_an_outreach_to_a_removed_contact_is_not_due() -> None:
    history = History()
    contact = add_contact(history)
    history.void(f"contact-{contact}", history.last_event, at("2025-03-20"))
    participant = history.enrol("2025-02-01")
    history.outreach(participant, at("2025-03-01"), contact=contact)

    assert len(due_outreach(history, "2025-03-19")) == 1
    assert due_outreach(history, "2025-03-20") == []


def test_two_unanswered_linkedin_messages_switch_to_email_the_start_of_the_order() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    _, last = thread(history, participant, ["linkedin", "linkedin"])

    [item] = due_outreach(history, "2025-03-09")

    assert (item.kind, item.outreach_id, item.due_on, item.attempts, item.suggested_channel) == (
        "follow_up",
        last,
        on("2025-03-09"),
        2,
        "email",
    )


def test_six_unanswered_among_seven_attempts_mark_the_thread_exhausted() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    outreaches = thread(history, participant, ["email", "email", "phone", "phone", "text", "text", "letter"])
    history.respond(participant, outreaches[2], at("2025-03-03", "18:00:00"))

    [item] = due_outreach(history, "2025-04-01")

    assert (item.kind, item.outreach_id, item.attempts, item.unanswered, item.suggested_channel) == (
        "exhausted",
        outreaches[-1],
        7,
        6,
        None,
    )


# --- thank_you_after_rejection ----------------------------------------------------------------------------------------


def test_rejection_asks_for_a_thank_you_within_the_seven_days_after_it() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    application = history.apply_for(participant, at("2025-03-01"))
    close(history, participant, application, "2025-03-10")

    assert kinds(queue(history, "2025-03-09"), "thank_you_after_rejection") == []
    [item] = kinds(queue(history, "2025-03-10"), "thank_you_after_rejection")
    assert (item.application_id, item.employer_id, item.due_on, item.due_by) == (
        application,
        EMPLOYER,
        on("2025-03-10"),
        on("2025-03-17"),
    )
    assert len(kinds(queue(history, "2025-03-17"), "thank_you_after_rejection")) == 1


def test_a_thank_you_to_a_contact_of_the_employer_clears_the_rejection() -> None:
    history = History()
    contact = add_contact(history, EMPLOYER)
    participant = history.enrol("2025-02-01")
    application = history.apply_for(participant, at("2025-03-01"))
    close(history, participant, application, "2025-03-10")
    history.outreach(participant, at("2025-03-17"), contact=contact, purpose="thank_you")

    assert len(kinds(queue(history, "2025-03-16"), "thank_you_after_rejection")) == 1
    assert kinds(queue(history, "2025-03-17"), "thank_you_after_rejection") == []


def test_a_thank_you_to_a_contact_of_another_employer_does_not_clear_it() -> None:
    history = History()
    contact = add_contact(history, OTHER_EMPLOYER)
    participant = history.enrol("2025-02-01")
    application = history.apply_for(participant, at("2025-03-01"))
    close(history, participant, application, "2025-03-10")
    history.outreach(participant, at("2025-03-11"), contact=contact, purpose="thank_you")
    history.outreach(participant, at("2025-03-11"), contact=add_contact(history, EMPLOYER), purpose="follow_up")

    assert len(kinds(queue(history, "2025-03-12"), "thank_you_after_rejection")) == 1


def test_a_contact_counts_for_the_employer_it_worked_for_when_thanked() -> None:
    history = History()
    contact = add_contact(history, OTHER_EMPLOYER)
    history.append(f"contact-{contact}", "contact_updated", at("2025-03-05"), {"employer_id": str(EMPLOYER)})
    participant = history.enrol("2025-02-01")
    application = history.apply_for(participant, at("2025-03-01"))
    close(history, participant, application, "2025-03-10")
    history.outreach(participant, at("2025-03-11"), contact=contact, purpose="thank_you")
    # Moving on later does not undo the thank-you.
    history.append(f"contact-{contact}", "contact_updated", at("2025-03-12"), {"employer_id": str(OTHER_EMPLOYER)})

    assert kinds(queue(history, "2025-03-13"), "thank_you_after_rejection") == []


def test_a_contact_update_naming_an_employer_is_a_fact_and_one_without_is_not() -> None:
    history = History()
    contact = add_contact(history)
    history.append(f"contact-{contact}", "contact_updated", at("2025-03-05"), {"role": "manager"})
    history.append(f"contact-{contact}", "contact_updated", at("2025-03-06"), {"employer_id": str(EMPLOYER)})

    facts = history.facts()

    assert [(type(record), record.employer_id) for record in facts.contact_employers[contact]] == [
        (ContactEmployer, EMPLOYER)
    ]
    assert len(facts.by_event_id) == 2


def test_a_voided_employer_change_does_not_make_a_contact_of_that_employer() -> None:
    history = History()
    contact = add_contact(history, OTHER_EMPLOYER)
    update = history.append(f"contact-{contact}", "contact_updated", at("2025-03-05"), {"employer_id": str(EMPLOYER)})
    history.void(f"contact-{contact}", update, at("2025-03-06"))
    participant = history.enrol("2025-02-01")
    application = history.apply_for(participant, at("2025-03-01"))
    close(history, participant, application, "2025-03-10")
    history.outreach(participant, at("2025-03-11"), contact=contact, purpose="thank_you")

    assert len(kinds(queue(history, "2025-03-12"), "thank_you_after_rejection")) == 1


def test_only_rejections_of_existing_applications_ask_for_a_thank_you() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    withdrawn = history.apply_for(participant, at("2025-03-01"))
    close(history, participant, withdrawn, "2025-03-10", outcome="withdrawn")
    voided = history.apply_for(participant, at("2025-03-01"))
    history.void_in(participant, history.last_event, at("2025-03-02"))
    close(history, participant, voided, "2025-03-01")

    assert kinds(queue(history, "2025-03-11"), "thank_you_after_rejection") == []


def test_a_rejection_left_unthanked_for_seven_days_stays_in_the_queue() -> None:
    history = History()
    contact = add_contact(history, EMPLOYER)
    participant = history.enrol("2025-02-01")
    application = history.apply_for(participant, at("2025-03-01"))
    close(history, participant, application, "2025-03-10")
    history.outreach(participant, at("2025-03-19"), contact=contact, purpose="thank_you")

    [item] = kinds(queue(history, "2025-06-01"), "thank_you_after_rejection")

    assert (item.application_id, item.due_on, item.due_by) == (application, on("2025-03-10"), on("2025-03-17"))


def test_a_thank_you_later_in_the_day_seven_days_on_is_more_than_seven_days_after() -> None:
    history = History()
    contact = add_contact(history, EMPLOYER)
    participant = history.enrol("2025-02-01")
    application = history.apply_for(participant, at("2025-03-01"))
    close(history, participant, application, "2025-03-10", time="09:00:00")
    history.outreach(participant, at("2025-03-17", "15:00:00"), contact=contact, purpose="thank_you")

    assert len(kinds(queue(history, "2025-03-17"), "thank_you_after_rejection")) == 1


def test_a_thank_you_sent_before_the_rejection_on_the_same_day_does_not_clear_it() -> None:
    history = History()
    contact = add_contact(history, EMPLOYER)
    participant = history.enrol("2025-02-01")
    application = history.apply_for(participant, at("2025-03-01"))
    history.outreach(participant, at("2025-03-10", "08:00:00"), contact=contact, purpose="thank_you")
    close(history, participant, application, "2025-03-10", time="09:00:00")

    assert len(kinds(queue(history, "2025-03-11"), "thank_you_after_rejection")) == 1


def test_a_thank_you_exactly_seven_days_after_the_rejection_clears_it() -> None:
    history = History()
    contact = add_contact(history, EMPLOYER)
    participant = history.enrol("2025-02-01")
    application = history.apply_for(participant, at("2025-03-01"))
    close(history, participant, application, "2025-03-10", time="09:00:00")
    history.outreach(participant, at("2025-03-17", "09:00:00"), contact=contact, purpose="thank_you")

    assert kinds(queue(history, "2025-03-17"), "thank_you_after_rejection") == []


# --- notify_helpers_of_hire -------------------------------------------------------------------------------------------


def test_after_a_hire_each_contact_asked_for_help_is_to_be_told() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    asked_for_referral, asked_for_meeting, introduced = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    history.outreach(participant, at("2025-03-01"), contact=asked_for_referral, purpose="ask_for_referral")
    history.outreach(participant, at("2025-03-02"), contact=asked_for_meeting, purpose="ask_for_meeting")
    history.outreach(participant, at("2025-03-03"), contact=introduced, purpose="introduction")
    job = history.hire(participant, "2025-04-01", occurred_at=at("2025-03-20"))

    items = kinds(queue(history, "2025-03-21"), "notify_helpers_of_hire")

    assert {item.contact_id for item in items} == {asked_for_referral, asked_for_meeting}
    assert {(item.job_id, item.employer_id, item.due_on) for item in items} == {(job, EMPLOYER, on("2025-03-20"))}


def test_notify_hired_since_the_hire_clears_the_item() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    helper = uuid.uuid4()
    history.outreach(participant, at("2025-03-01"), contact=helper, purpose="ask_for_referral")
    history.outreach(participant, at("2025-03-10"), contact=helper, purpose="notify_hired")
    history.hire(participant, "2025-04-01", occurred_at=at("2025-03-20"))
    history.outreach(participant, at("2025-03-25"), contact=helper, purpose="notify_hired")

    assert len(kinds(queue(history, "2025-03-24"), "notify_helpers_of_hire")) == 1
    assert kinds(queue(history, "2025-03-25"), "notify_helpers_of_hire") == []


def test_no_helper_to_tell_before_a_hire_or_after_it_is_voided() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    history.outreach(participant, at("2025-03-01"), purpose="ask_for_referral")
    history.hire(participant, "2025-04-01", occurred_at=at("2025-03-20"))
    history.void_in(participant, history.last_event, at("2025-03-22"))

    assert kinds(queue(history, "2025-03-19"), "notify_helpers_of_hire") == []
    assert len(kinds(queue(history, "2025-03-21"), "notify_helpers_of_hire")) == 1
    assert kinds(queue(history, "2025-03-22"), "notify_helpers_of_hire") == []


def test_a_contact_asked_only_after_the_hire_is_not_to_be_told_of_it() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    history.hire(participant, "2025-04-01", occurred_at=at("2025-03-20"))
    history.outreach(participant, at("2025-03-22"), purpose="ask_for_meeting")

    assert kinds(queue(history, "2025-03-23"), "notify_helpers_of_hire") == []


def test_an_ask_sent_after_the_hire_on_the_same_day_is_not_a_help_to_tell_of_it() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    history.hire(participant, "2025-04-01", occurred_at=at("2025-03-20", "10:00:00"))
    history.outreach(participant, at("2025-03-20", "15:00:00"), purpose="ask_for_referral")

    assert kinds(queue(history, "2025-03-21"), "notify_helpers_of_hire") == []


def test_a_notify_hired_sent_before_the_hire_on_the_same_day_does_not_clear_it() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    helper = uuid.uuid4()
    history.outreach(participant, at("2025-03-01"), contact=helper, purpose="ask_for_meeting")
    history.outreach(participant, at("2025-03-20", "09:00:00"), contact=helper, purpose="notify_hired")
    job = history.hire(participant, "2025-04-01", occurred_at=at("2025-03-20", "10:00:00"))

    [item] = kinds(queue(history, "2025-03-21"), "notify_helpers_of_hire")

    assert (item.contact_id, item.job_id, item.due_on) == (helper, job, on("2025-03-20"))


def test_helpers_are_told_of_the_latest_hire_one_item_per_contact() -> None:
    history = History()
    participant = history.enrol("2025-02-01")
    helper, newer_helper = uuid.uuid4(), uuid.uuid4()
    history.outreach(participant, at("2025-03-01"), contact=helper, purpose="ask_for_referral")
    history.outreach(participant, at("2025-03-02"), contact=helper, purpose="ask_for_meeting")
    history.hire(participant, "2025-03-10", occurred_at=at("2025-03-05"))
    history.outreach(participant, at("2025-03-06"), contact=helper, purpose="notify_hired")
    history.outreach(participant, at("2025-05-01"), contact=newer_helper, purpose="ask_for_meeting")
    # The second hire is the news now; the hire starting soonest is not what counts.
    latest = history.hire(participant, "2025-06-01", occurred_at=at("2025-05-20", "10:00:00"))
    history.outreach(participant, at("2025-05-20", "09:00:00"), contact=newer_helper, purpose="notify_hired")

    items = kinds(queue(history, "2025-05-21"), "notify_helpers_of_hire")

    assert sorted((str(item.contact_id), item.job_id, item.due_on) for item in items) == sorted(
        (str(contact), latest, on("2025-05-20")) for contact in (helper, newer_helper)
    )


# --- nurture ----------------------------------------------------------------------------------------------------------


def test_people_link_untouched_for_sixty_days_is_to_be_nurtured() -> None:
    history = History()
    helper = add_contact(history)
    participant = history.enrol("2025-01-02")
    history.hire(participant, "2025-03-01", via=helper)
    history.outreach(participant, at("2025-03-10"), contact=helper, purpose="thank_you")

    assert kinds(queue(history, "2025-05-08"), "nurture") == []
    [item] = kinds(queue(history, "2025-05-09"), "nurture")
    assert (item.contact_id, item.due_on) == (helper, on("2025-05-09"))


def test_a_meeting_counts_as_keeping_in_touch() -> None:
    history = History()
    helper = add_contact(history)
    participant = history.enrol("2025-01-02")
    referral = history.refer(participant, helper, at("2025-02-01"))
    history.apply_for(participant, at("2025-02-03"), referral=referral)
    history.event(
        participant,
        "meeting_held",
        at("2025-03-01"),
        meeting_id=uuid.uuid4(),
        contact_id=helper,
        format="in_person",
        kind="coffee",
    )

    assert len(kinds(queue(history, "2025-04-04"), "nurture")) == 0
    [item] = kinds(queue(history, "2025-04-30"), "nurture")
    assert item.due_on == on("2025-04-30")


def test_a_contact_who_is_not_a_people_link_is_not_nurtured() -> None:
    history = History()
    helper = add_contact(history)
    participant = history.enrol("2025-01-02")
    history.refer(participant, helper, at("2025-02-01"))
    history.outreach(participant, at("2025-02-02"), contact=helper)

    assert kinds(queue(history, "2025-12-31"), "nurture") == []


def test_nurture_counts_from_the_latest_outreach_not_from_the_link() -> None:
    history = History()
    helper = add_contact(history)
    participant = history.enrol("2025-01-02")
    history.outreach(participant, at("2025-03-01"), contact=helper, purpose="ask_for_referral")
    history.hire(participant, "2025-05-20", occurred_at=at("2025-05-10"), via=helper)

    [item] = kinds(queue(history, "2025-05-25"), "nurture")

    # Sixty days after the outreach (2025-04-30) the contact was not a People Link yet: due from the start.
    assert (item.contact_id, item.due_on) == (helper, on("2025-05-20"))


def test_a_people_link_never_written_to_or_met_is_due_from_the_day_it_became_one() -> None:
    history = History()
    helper = add_contact(history)
    participant = history.enrol("2025-01-02")
    referral = history.refer(participant, helper, at("2025-02-01"))
    history.apply_for(participant, at("2025-02-03"), referral=referral)

    assert kinds(queue(history, "2025-02-02"), "nurture") == []
    [item] = kinds(queue(history, "2025-02-03"), "nurture")
    assert (item.contact_id, item.due_on) == (helper, on("2025-02-03"))


def test_a_meeting_before_the_link_is_the_latest_touch() -> None:
    history = History()
    helper = add_contact(history)
    participant = history.enrol("2025-01-02")
    meet(history, participant, helper, "2025-01-10")
    referral = history.refer(participant, helper, at("2025-03-20"))
    history.apply_for(participant, at("2025-03-25"), referral=referral)

    [item] = kinds(queue(history, "2025-03-26"), "nurture")

    assert item.due_on == on("2025-03-25")


# --- retention_check_due ----------------------------------------------------------------------------------------------


def test_retention_check_is_due_from_each_milestone_until_verified_on_or_after_it() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    job = history.hire(participant, "2025-03-01")

    def checks(as_of: str) -> list[tuple[int | None, dt.date]]:
        return [(item.milestone_days, item.due_on) for item in kinds(queue(history, as_of), "retention_check_due")]

    assert checks("2025-03-30") == []
    assert checks("2025-03-31") == [(30, on("2025-03-31"))]
    history.verify(participant, job, "2025-04-02")
    assert checks("2025-04-02") == []
    assert checks("2025-05-29") == []
    assert checks("2025-05-30") == [(90, on("2025-05-30"))]
    history.verify(participant, job, "2025-05-30")
    assert checks("2025-08-27") == []
    assert checks("2025-08-28") == [(180, on("2025-08-28"))]
    history.verify(participant, job, "2025-09-01")
    assert checks("2026-01-01") == []


def test_a_verification_before_the_milestone_does_not_meet_it() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    job = history.hire(participant, "2025-03-01")
    history.verify(participant, job, "2025-03-30")

    [item] = kinds(queue(history, "2025-04-05"), "retention_check_due")

    assert (item.job_id, item.milestone_days) == (job, 30)


def test_an_ended_job_needs_no_retention_check() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    job = history.hire(participant, "2025-03-01")
    history.end_job(participant, job, "2025-03-20")

    assert kinds(queue(history, "2025-06-01"), "retention_check_due") == []


def test_retention_checks_continue_after_exit_while_outreach_items_stop() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    history.outreach(participant, at("2025-02-20"), purpose="ask_for_referral")
    history.hire(participant, "2025-03-01")
    history.exit(participant, "2025-03-02", reason="employed")

    items = queue(history, "2025-04-01")

    assert [item.kind for item in items] == ["retention_check_due"]


def test_retention_check_asks_for_the_next_milestone_not_yet_verified() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    job = history.hire(participant, "2025-03-01")
    history.verify(participant, job, "2025-06-05")

    [item] = kinds(queue(history, "2025-09-01"), "retention_check_due")

    assert (item.job_id, item.milestone_days, item.due_on) == (job, 180, on("2025-08-28"))


# --- the queue as a whole ---------------------------------------------------------------------------------------------


def test_items_are_sorted_by_due_day_then_kind() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    history.outreach(participant, at("2025-03-24"), purpose="ask_for_referral")
    history.hire(participant, "2025-03-01", occurred_at=at("2025-03-31"))
    history.outreach(participant, at("2025-03-20"))

    items = queue(history, "2025-04-01")

    assert [(item.due_on, item.kind) for item in items] == [
        (on("2025-03-27"), "follow_up"),
        (on("2025-03-31"), "follow_up"),
        (on("2025-03-31"), "notify_helpers_of_hire"),
        (on("2025-03-31"), "retention_check_due"),
    ]


def test_items_carry_the_counselor_as_of_the_day_and_can_be_filtered_by_them() -> None:
    history = History()
    mine = history.enrol("2025-01-02")
    history.outreach(mine, at("2025-03-01"))
    theirs = history.enrol("2025-01-02")
    history.outreach(theirs, at("2025-03-01"))
    history.assign(theirs, OTHER_COUNSELOR, at("2025-03-05"))

    everyone = queue(history, "2025-04-01")
    filtered = queue(history, "2025-04-01", counselor_id=OTHER_COUNSELOR)
    before = queue(history, "2025-03-04", counselor_id=OTHER_COUNSELOR)

    assert {(item.participant_id, item.counselor_id) for item in everyone} == {
        (mine, COUNSELOR),
        (theirs, OTHER_COUNSELOR),
    }
    assert [item.participant_id for item in filtered] == [theirs]
    assert before == []


def test_a_voided_participant_has_no_items() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    history.outreach(participant, at("2025-03-01"))
    history.void_in(participant, history.envelopes[0].event_id, at("2025-03-02"))

    assert queue(history, "2025-04-01") == []


# --- properties -------------------------------------------------------------------------------------------------------


def _log_facts(seed: int) -> Facts:
    rng = random.Random(seed)
    log = programme_log(rng, [str(COUNSELOR), str(OTHER_COUNSELOR)], participants=3, actions=25)
    return facts_from_events(
        msgspec.convert({**line, "global_position": position}, EventEnvelope)
        for position, line in enumerate(log, start=1)
    )


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), days=st.integers(0, 400), position=st.none() | st.integers(1, 200))
def test_the_queue_names_nothing_voided_answered_or_followed_up(seed: int, days: int, position: int | None) -> None:
    facts = _log_facts(seed)
    params = FollowUpParams(as_of=dt.date(2025, 1, 1) + dt.timedelta(days=days), as_of_position=position)
    as_of: AsOf = looking_from(params)

    items = follow_up_queue(facts, params)

    for item in items:
        bundle = facts.participants[item.participant_id]
        counted = as_of.counted(bundle.outreaches)
        if item.outreach_id is not None:
            assert [o.outreach_id for o in counted].count(item.outreach_id) == 1
            assert not any(o.follow_up_of == item.outreach_id for o in counted)
            answered = {r.outreach_id for r in as_of.counted(bundle.responses)}
            assert item.outreach_id not in answered
            assert item.due_on <= params.as_of
            assert item.suggested_channel is not None or item.kind == "exhausted"
        if item.job_id is not None:
            assert any(hire.job_id == item.job_id for hire in as_of.counted(bundle.hires))
    assert [(item.due_on, item.kind) for item in items] == sorted((item.due_on, item.kind) for item in items)
