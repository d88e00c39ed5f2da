"""Given a stream's history, when it is folded, then the state says what exists and what was voided."""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Callable
from typing import get_args

import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st

from domain.events import ContactUpdated, Event, OutreachSent, ResponseReceived, StreamKind
from domain.rules import RuleViolation
from domain.streams import Entry, Made, StreamState, evolve, fold, initial_state, stream_id_of, stream_kind
from tests.unit.given import (
    CREATION,
    application_submitted,
    contact_added,
    day,
    entry,
    exited,
    hired,
    meeting_held,
    new_id,
    outreach_sent,
    participant,
    referral_made,
    voided,
)

# --- stream ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["participant", "contact", "employer"])
def test_stream_kind_is_read_from_the_stream_id(kind: StreamKind) -> None:
    stream_id = stream_id_of(kind, uuid.UUID("0b9f6d0e-1f7a-4a53-9a53-6c1d0b1f1e01"))

    assert stream_kind(stream_id) == kind


@pytest.mark.parametrize(
    "stream_id",
    [
        "",
        "participant",
        "participant-",
        "participant-not-a-uuid",
        "person-0b9f6d0e-1f7a-4a53-9a53-6c1d0b1f1e01",
        "Participant-0b9f6d0e-1f7a-4a53-9a53-6c1d0b1f1e01",
        "participant-0B9F6D0E-1F7A-4A53-9A53-6C1D0B1F1E01",
        "participant-0b9f6d0e1f7a4a539a536c1d0b1f1e01",
        "contact-{0b9f6d0e-1f7a-4a53-9a53-6c1d0b1f1e01}",
        "employer-0b9f6d0e-1f7a-4a53-9a53-6c1d0b1f1e01-x",
    ],
)
def test_malformed_stream_id_is_refused(stream_id: str) -> None:
    with pytest.raises(RuleViolation) as refusal:
        stream_kind(stream_id)

    assert refusal.value.field == "stream_id"


# --- versions and existence ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["participant", "contact", "employer"])
def test_new_stream_is_at_version_zero_and_does_not_exist(kind: StreamKind) -> None:
    state = initial_state(kind)

    assert (state.kind, state.version, state.exists) == (kind, 0, False)


@pytest.mark.parametrize("kind", ["participant", "contact", "employer"])
def test_creation_event_makes_the_record_exist(kind: StreamKind) -> None:
    state = evolve(initial_state(kind), entry(CREATION[kind]))

    assert (state.version, state.exists) == (1, True)


def test_each_folded_event_counts_one_version() -> None:
    history = [entry(CREATION["participant"])] + [entry(outreach_sent(new_id()), on=day(n)) for n in range(7)]

    state = fold("participant", history)

    assert state.version == len(history)


@pytest.mark.parametrize("kind", ["participant", "contact", "employer"])
def test_voiding_the_creation_event_makes_the_record_not_exist(kind: StreamKind) -> None:
    creation = entry(CREATION[kind])

    state = fold(kind, [creation, entry(voided(creation.event_id), on=day(1))])

    assert (state.version, state.exists, state.opened) == (2, False, True)


def test_voiding_another_event_leaves_the_record_existing() -> None:
    outreach = entry(outreach_sent(new_id()), on=day(1))

    state = participant(outreach, entry(voided(outreach.event_id), on=day(2)))

    assert state.exists


# --- what voids make absent ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "make"),
    [
        ("outreach", outreach_sent),
        ("meeting", meeting_held),
        ("referral", referral_made),
        ("application", application_submitted),
        ("job", hired),
    ],
)
def test_what_a_voided_event_created_is_no_longer_live(what: Made, make: Callable[[uuid.UUID], Event]) -> None:
    thing_id = new_id()
    creation = entry(make(thing_id), on=day(1))
    before = participant(creation)

    after = evolve(before, entry(voided(creation.event_id), on=day(2)))

    assert before.live(what, thing_id) == creation
    assert after.live(what, thing_id) is None
    assert after.creator(what, thing_id) == creation


def test_voided_event_stays_readable_with_its_voiding() -> None:
    outreach = entry(outreach_sent(new_id()), on=day(1))
    void = entry(voided(outreach.event_id), on=day(2))

    state = participant(outreach, void)

    assert state.entry(outreach.event_id) == outreach
    assert state.voided_by(outreach.event_id) == void
    assert state.is_voided(outreach.event_id)
    assert not state.is_voided(void.event_id)
    assert state.history[-2:] == (outreach, void)


def test_exit_counts_until_it_is_voided() -> None:
    exit_entry = entry(exited(), on=day(40))
    exited_state = participant(exit_entry)

    reopened = evolve(exited_state, entry(voided(exit_entry.event_id), on=day(41)))

    assert exited_state.exit == exit_entry
    assert reopened.exit is None


def test_only_the_exit_that_was_not_voided_counts() -> None:
    first = entry(exited(), on=day(40))
    second = entry(exited(), on=day(60))

    state = participant(first, entry(voided(first.event_id), on=day(41)), second)

    assert state.exit == second


# --- purity ----------------------------------------------------------------------------------


def facts(state: StreamState) -> tuple[object, ...]:
    """Everything a state says about its stream, for comparing two states."""
    history = state.history
    made = [
        (what, getattr(e.event, f"{what}_id"))
        for e in history
        for what in get_args(Made)
        if hasattr(e.event, f"{what}_id")
    ]
    return (
        state.kind,
        state.version,
        state.opened,
        state.exists,
        history,
        tuple(state.voided_by(e.event_id) for e in history),
        tuple((state.creator(what, i), state.live(what, i)) for what, i in made),
        state.exit,
    )


def test_evolve_leaves_the_given_state_as_it_was() -> None:
    outreach_id = new_id()
    outreach = entry(outreach_sent(outreach_id), on=day(1))
    before = participant(outreach)
    said_before = facts(before)

    after = evolve(before, entry(voided(outreach.event_id), on=day(2)))

    assert facts(before) == said_before
    assert (before.live("outreach", outreach_id), after.live("outreach", outreach_id)) == (outreach, None)


def test_evolving_an_older_state_again_leaves_the_newer_line_as_it_was() -> None:
    outreach = entry(outreach_sent(new_id()), on=day(1))
    older = participant(outreach)
    newer = evolve(older, entry(voided(outreach.event_id), on=day(2)))
    said_by_newer = facts(newer)

    branch = evolve(older, entry(exited(), on=day(3)))

    assert facts(newer) == said_by_newer
    assert (branch.version, branch.is_voided(outreach.event_id), branch.exit is not None) == (3, False, True)
    assert (newer.exit, newer.is_voided(outreach.event_id)) == (None, True)


def test_branch_from_an_older_state_does_not_inherit_the_newer_line_s_facts() -> None:
    outreach = entry(outreach_sent(new_id()), on=day(1))
    older = participant(outreach)
    job_id = new_id()
    newer_line = [
        entry(hired(job_id), on=day(2)),
        entry(exited(), on=day(3)),
        entry(voided(outreach.event_id), on=day(4)),
    ]
    newer = functools.reduce(evolve, newer_line, older)

    branch = functools.reduce(evolve, [entry(outreach_sent(new_id()), on=day(n)) for n in (2, 3, 4, 5)], older)

    assert (branch.creator("job", job_id), branch.exit, branch.voided_by(outreach.event_id)) == (None, None, None)
    assert branch.entry(newer_line[0].event_id) is None
    assert (newer.creator("job", job_id), newer.exit, newer.voided_by(outreach.event_id)) == tuple(newer_line)


def test_new_stream_evolved_twice_opens_only_the_branch_with_the_creation_event() -> None:
    new_stream = initial_state("contact")

    opened = evolve(new_stream, entry(contact_added()))
    unopened = evolve(new_stream, entry(ContactUpdated(phone="555-0100")))

    assert (opened.opened, opened.exists, unopened.opened, unopened.exists) == (True, True, False, False)


def test_evolve_trusts_the_history_it_is_given() -> None:
    """Stored history was checked when appended; folding it must never refuse it."""
    response_to_nothing = entry(ResponseReceived(outreach_id=new_id(), outcome="positive"), on=day(1))

    state = evolve(initial_state("participant"), response_to_nothing)

    assert (state.version, state.exists) == (1, False)


def test_contact_updates_do_not_change_existence() -> None:
    state = fold("contact", [entry(contact_added()), entry(ContactUpdated(phone="555-0100"), on=day(1))])

    assert (state.version, state.exists) == (2, True)


@st.composite
def participant_histories(draw: st.DrawFn) -> list[Entry]:
    """An enrolment followed by outreach, responses, hires, exits and voids of any earlier event."""
    history = [entry(CREATION["participant"])]
    for n in range(draw(st.integers(min_value=0, max_value=30))):
        choice = draw(st.sampled_from(["outreach", "response", "hire", "exit", "void", "void"]))
        event: Event
        if choice == "outreach":
            event = outreach_sent(new_id())
        elif choice == "response":
            outreach_ids = [e.event.outreach_id for e in history if isinstance(e.event, OutreachSent)]
            event = ResponseReceived(outreach_id=draw(st.sampled_from(outreach_ids or [new_id()])), outcome="neutral")
        elif choice == "hire":
            event = hired(new_id())
        elif choice == "exit":
            event = exited()
        else:
            event = voided(draw(st.sampled_from(history)).event_id)
        history.append(entry(event, on=day(n)))
    return history


@for_all(participant_histories())
def test_fold_is_evolving_one_entry_at_a_time(history: list[Entry]) -> None:
    stepwise: StreamState = functools.reduce(evolve, history, initial_state("participant"))

    assert facts(fold("participant", history)) == facts(stepwise)


@for_all(participant_histories(), st.data())
def test_every_state_of_a_line_keeps_saying_what_its_prefix_says(history: list[Entry], data: st.DataObject) -> None:
    line = list(itertools.accumulate(history, evolve, initial=initial_state("participant")))
    fork_at = data.draw(st.integers(min_value=0, max_value=len(history)))
    evolve(line[fork_at], entry(voided(history[0].event_id), on=day(99)))
    evolve(line[-1], entry(exited(), on=day(100)))

    for version, state in enumerate(line):
        assert facts(state) == facts(fold("participant", history[:version]))
