"""Relationship stages and timelines, and a participant's whole timeline, on hand-built logs."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.reporting.facts import EventEnvelope, RelationshipNoted, facts_from_events
from domain.reporting.relationships import STAGES, Relationship, Stage, relationships, timeline
from domain.reporting.snapshot import ViewParams
from tests.generators import programme_log
from tests.unit.reporting.history import COUNSELOR, History, at, on


def view(as_of: str) -> ViewParams:
    return ViewParams(as_of=on(as_of))


def of(history: History, participant: uuid.UUID, as_of: str) -> dict[uuid.UUID, Relationship]:
    return {
        relationship.contact_id: relationship
        for relationship in relationships(history.facts(), participant, view(as_of))
    }


def stage(history: History, participant: uuid.UUID, contact: uuid.UUID, as_of: str) -> Stage | None:
    relationship = of(history, participant, as_of).get(contact)
    return None if relationship is None else relationship.stage


def add_contact(history: History) -> uuid.UUID:
    return history.add_contact(at("2024-01-01"))


def note(history: History, participant: uuid.UUID, contact: uuid.UUID, day: str, closeness: str = "close") -> uuid.UUID:
    return history.event(
        participant, "relationship_noted", at(day), contact_id=contact, closeness=closeness, how_known="mentor"
    )


def meet(history: History, participant: uuid.UUID, contact: uuid.UUID, day: str) -> uuid.UUID:
    return history.event(
        participant,
        "meeting_held",
        at(day),
        meeting_id=uuid.uuid4(),
        contact_id=contact,
        format="video",
        kind="informational_interview",
    )


# --- facts ------------------------------------------------------------------------------------------------------------


def test_relationship_noted_is_a_fact_of_the_participant() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact = add_contact(history)
    event_id = note(history, participant, contact, "2025-01-03")

    record = history.facts().by_event_id[event_id]

    assert isinstance(record, RelationshipNoted)
    assert (record.participant_id, record.contact_id, record.closeness, record.how_known) == (
        participant,
        contact,
        "close",
        "mentor",
    )


# --- stages -----------------------------------------------------------------------------------------------------------


def test_stages_move_forward_as_the_relationship_grows() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact = add_contact(history)
    note(history, participant, contact, "2025-01-05")
    outreach = history.outreach(participant, at("2025-01-10"), contact=contact)
    history.respond(participant, outreach, at("2025-01-12"), "positive")
    meet(history, participant, contact, "2025-01-20")
    referral = history.refer(participant, contact, at("2025-02-01"))
    history.apply_for(participant, at("2025-02-03"), referral=referral)

    stages = [
        stage(history, participant, contact, day)
        for day in ["2025-01-04", "2025-01-05", "2025-01-10", "2025-01-12", "2025-01-20", "2025-02-01", "2025-02-03"]
    ]

    assert stages == [None, "noted", "contacted", "engaged", "met", "referred", "people_link"]


def test_stage_is_the_furthest_reached_even_when_steps_are_skipped() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact = add_contact(history)
    meet(history, participant, contact, "2025-01-20")
    history.outreach(participant, at("2025-01-25"), contact=contact)

    relationship = of(history, participant, "2025-02-01")[contact]

    assert (relationship.stage, relationship.people_link, relationship.closeness) == ("met", False, None)


def test_voiding_what_justified_a_stage_moves_it_back() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact = add_contact(history)
    outreach = history.outreach(participant, at("2025-01-10"), contact=contact)
    response = history.respond(participant, outreach, at("2025-01-12"))
    meeting = meet(history, participant, contact, "2025-01-20")
    history.void_in(participant, meeting, at("2025-02-01"))
    history.void_in(participant, response, at("2025-02-02"))

    assert stage(history, participant, contact, "2025-01-31") == "met"
    assert stage(history, participant, contact, "2025-02-01") == "engaged"
    assert stage(history, participant, contact, "2025-02-02") == "contacted"


def test_a_response_to_a_voided_outreach_no_longer_engages() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact = add_contact(history)
    note(history, participant, contact, "2025-01-05")
    outreach = history.outreach(participant, at("2025-01-10"), contact=contact)
    voided = history.last_event
    history.respond(participant, outreach, at("2025-01-12"))
    history.void_in(participant, voided, at("2025-02-01"))

    relationship = of(history, participant, "2025-02-01")[contact]

    assert (relationship.stage, relationship.timeline) == ("noted", [])


def test_people_link_via_a_referral_an_application_names() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    referrer, bystander = add_contact(history), add_contact(history)
    referral = history.refer(participant, referrer, at("2025-02-01"))
    history.refer(participant, bystander, at("2025-02-01"))
    history.apply_for(participant, at("2025-02-03"), referral=referral)

    relationships_now = of(history, participant, "2025-02-03")

    assert (relationships_now[referrer].stage, relationships_now[referrer].people_link) == ("people_link", True)
    assert (relationships_now[bystander].stage, relationships_now[bystander].people_link) == ("referred", False)


def test_people_link_via_a_hire_from_its_start_date() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact = add_contact(history)
    history.hire(participant, "2025-03-01", occurred_at=at("2025-02-20"), via=contact)

    before = of(history, participant, "2025-02-28")[contact]
    started = of(history, participant, "2025-03-01")[contact]

    assert (before.stage, before.people_link, [entry.kind for entry in before.timeline]) == ("noted", False, ["hired"])
    assert (started.stage, started.people_link) == ("people_link", True)


def test_voiding_the_application_moves_a_people_link_back_to_referred() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact = add_contact(history)
    referral = history.refer(participant, contact, at("2025-02-01"))
    history.apply_for(participant, at("2025-02-03"), referral=referral)
    history.void_in(participant, history.last_event, at("2025-02-10"))

    assert stage(history, participant, contact, "2025-02-09") == "people_link"
    assert stage(history, participant, contact, "2025-02-10") == "referred"


def test_a_removed_contact_has_no_relationship() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact = add_contact(history)
    removal = history.last_event
    history.outreach(participant, at("2025-01-10"), contact=contact)
    history.void(f"contact-{contact}", removal, at("2025-02-01"))

    assert contact in of(history, participant, "2025-01-31")
    assert of(history, participant, "2025-02-01") == {}


def test_latest_note_gives_closeness_and_how_known() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact = add_contact(history)
    note(history, participant, contact, "2025-01-05", closeness="acquaintance")
    note(history, participant, contact, "2025-03-05", closeness="well")

    assert of(history, participant, "2025-02-01")[contact].closeness == "acquaintance"
    assert of(history, participant, "2025-04-01")[contact].closeness == "well"


# --- the pair's timeline ----------------------------------------------------------------------------------------------


def test_the_pair_timeline_holds_what_names_the_contact_in_order() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact, other = add_contact(history), add_contact(history)
    note(history, participant, contact, "2025-01-03")
    meet(history, participant, contact, "2025-01-20")
    outreach = history.outreach(participant, at("2025-01-10"), contact=contact, channel="phone", purpose="follow_up")
    history.respond(participant, outreach, at("2025-01-12"), "positive")
    history.outreach(participant, at("2025-01-11"), contact=other)
    history.refer(participant, contact, at("2025-02-01"))
    history.hire(participant, "2025-03-01", via=contact)

    entries = of(history, participant, "2025-04-01")[contact].timeline

    assert [entry.kind for entry in entries] == [
        "outreach_sent",
        "response_received",
        "meeting_held",
        "referral_made",
        "hired",
    ]
    assert (entries[0].channel, entries[0].purpose, entries[1].outcome, entries[2].meeting_kind) == (
        "phone",
        "follow_up",
        "positive",
        "informational_interview",
    )
    assert all(entry.contact_id == contact for entry in entries)


def refer_to(
    history: History, participant: uuid.UUID, referrer: uuid.UUID, to_contact: uuid.UUID, day: str
) -> uuid.UUID:
    """Record a referral by ``referrer`` to ``to_contact``; returns the referral id (the event id is ``last_event``)."""
    referral = uuid.uuid4()
    history.last_event = history.event(
        participant, "referral_made", at(day), referral_id=referral, contact_id=referrer, to_contact_id=to_contact
    )
    return referral


def test_a_referral_names_its_to_contact_whose_pair_shows_it_at_stage_noted() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    referrer, hiring_manager = add_contact(history), add_contact(history)
    referral = refer_to(history, participant, referrer, hiring_manager, "2025-02-01")

    relationship = of(history, participant, "2025-02-01")[hiring_manager]

    assert (relationship.stage, relationship.people_link) == ("noted", False)
    [entry] = relationship.timeline
    assert (entry.kind, entry.referral_id, entry.contact_id, entry.to_contact_id) == (
        "referral_made",
        referral,
        referrer,
        hiring_manager,
    )


def test_being_referred_to_does_not_move_the_to_contact_past_its_own_stage() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    referrer, hiring_manager = add_contact(history), add_contact(history)
    meet(history, participant, hiring_manager, "2025-01-20")
    referral = refer_to(history, participant, referrer, hiring_manager, "2025-02-01")
    history.apply_for(participant, at("2025-02-03"), referral=referral)

    relationships_now = of(history, participant, "2025-02-03")

    assert (relationships_now[referrer].stage, relationships_now[hiring_manager].stage) == ("people_link", "met")
    assert [entry.kind for entry in relationships_now[hiring_manager].timeline] == ["meeting_held", "referral_made"]
    assert [entry.kind for entry in relationships_now[referrer].timeline] == ["referral_made"]


def test_a_voided_referral_leaves_the_pair_of_its_to_contact() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    referrer, hiring_manager = add_contact(history), add_contact(history)
    refer_to(history, participant, referrer, hiring_manager, "2025-02-01")
    history.void_in(participant, history.last_event, at("2025-02-10"))

    assert hiring_manager in of(history, participant, "2025-02-09")
    assert hiring_manager not in of(history, participant, "2025-02-10")


def test_a_referral_to_the_referrer_themself_is_shown_once() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact = add_contact(history)
    refer_to(history, participant, contact, contact, "2025-02-01")

    relationship = of(history, participant, "2025-02-01")[contact]

    assert (relationship.stage, [entry.kind for entry in relationship.timeline]) == ("referred", ["referral_made"])


def test_contacts_are_listed_in_the_order_first_named() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    late, early = add_contact(history), add_contact(history)
    history.outreach(participant, at("2025-02-01"), contact=late)
    note(history, participant, early, "2025-01-05")

    assert [r.contact_id for r in relationships(history.facts(), participant, view("2025-03-01"))] == [early, late]


def test_an_unknown_or_voided_participant_has_no_relationships_or_timeline() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    history.outreach(participant, at("2025-01-10"))
    history.void_in(participant, history.envelopes[0].event_id, at("2025-02-01"))
    facts = history.facts()

    assert relationships(facts, uuid.uuid4(), view("2025-03-01")) == []
    assert relationships(facts, participant, view("2025-03-01")) == []
    assert timeline(facts, participant, view("2025-03-01")) == []
    assert len(relationships(facts, participant, view("2025-01-31"))) == 1


# --- the participant's timeline ---------------------------------------------------------------------------------------


def test_the_participant_timeline_is_everything_that_counts_in_order() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    contact = add_contact(history)
    note(history, participant, contact, "2025-01-03")
    outreach = history.outreach(participant, at("2025-01-10"), contact=contact)
    history.respond(participant, outreach, at("2025-01-12"))
    application = history.apply_for(participant, at("2025-01-15"))
    history.event(participant, "interview_held", at("2025-01-20"), application_id=application, round=1)
    job = history.hire(participant, "2025-02-01", application=application)
    history.verify(participant, job, "2025-03-05")
    history.exit(participant, "2025-03-10", reason="employed")

    entries = timeline(history.facts(), participant, view("2025-04-01"))

    assert [entry.kind for entry in entries] == [
        "participant_enrolled",
        "relationship_noted",
        "outreach_sent",
        "response_received",
        "application_submitted",
        "interview_held",
        "hired",
        "employment_verified",
        "participant_exited",
    ]
    assert (entries[0].enrolled_on, entries[0].counselor_id) == (on("2025-01-02"), COUNSELOR)
    assert (entries[5].round, entries[6].job_id, entries[7].verified_on) == (1, job, on("2025-03-05"))


def test_the_participant_timeline_leaves_out_voided_events_and_what_they_created() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    outreach = history.outreach(participant, at("2025-01-10"))
    voided_outreach = history.last_event
    history.respond(participant, outreach, at("2025-01-12"))
    job = history.hire(participant, "2025-02-01")
    voided_hire = history.last_event
    history.verify(participant, job, "2025-03-05")
    history.void_in(participant, voided_outreach, at("2025-03-10"))
    history.void_in(participant, voided_hire, at("2025-03-10"))

    before = timeline(history.facts(), participant, view("2025-03-09"))
    after = timeline(history.facts(), participant, view("2025-03-10"))

    assert len(before) == 5
    assert [entry.kind for entry in after] == ["participant_enrolled"]


def test_the_participant_timeline_is_as_of_its_day() -> None:
    history = History()
    participant = history.enrol("2025-01-02")
    history.outreach(participant, at("2025-01-10"))
    history.exit(participant, "2025-03-10")

    assert [entry.kind for entry in timeline(history.facts(), participant, view("2025-01-09"))] == [
        "participant_enrolled"
    ]
    assert len(timeline(history.facts(), participant, view("2025-03-09"))) == 2


def test_timeline_entries_carry_only_their_own_fields_on_the_wire() -> None:
    history = History()
    participant = history.enrol("2025-01-02")

    [entry] = timeline(history.facts(), participant, view("2025-01-02"))

    assert set(msgspec.to_builtins(entry)) == {
        "kind",
        "event_id",
        "occurred_at",
        "position",
        "enrolled_on",
        "counselor_id",
    }


# --- properties -------------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), first=st.integers(0, 300), later=st.integers(0, 120))
def test_without_voids_stages_never_move_back(seed: int, first: int, later: int) -> None:
    rng = random.Random(seed)
    log = [
        line
        for line in programme_log(rng, [str(COUNSELOR)], participants=3, actions=30)
        if line["type"] != "entry_voided"
    ]
    facts = facts_from_events(
        msgspec.convert({**line, "global_position": position}, EventEnvelope)
        for position, line in enumerate(log, start=1)
    )
    earlier_day = dt.date(2025, 1, 1) + dt.timedelta(days=first)
    later_day = earlier_day + dt.timedelta(days=later)

    for participant in facts.participants:
        before = {r.contact_id: r for r in relationships(facts, participant, ViewParams(as_of=earlier_day))}
        after = {r.contact_id: r for r in relationships(facts, participant, ViewParams(as_of=later_day))}
        assert set(before) <= set(after)
        for contact, relationship in before.items():
            assert STAGES.index(relationship.stage) <= STAGES.index(after[contact].stage)
            assert {e.event_id for e in relationship.timeline} <= {e.event_id for e in after[contact].timeline}
