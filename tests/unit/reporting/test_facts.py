"""Folding events into report facts: one flat record per event, voids marked on the record they name."""

from __future__ import annotations

import datetime as dt
import json
import typing
import uuid
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from domain.reporting import facts as fact_records
from domain.reporting.facts import (
    Contact,
    EventEnvelope,
    Facts,
    Hire,
    Outreach,
    Participant,
    Void,
    add_record,
    apply,
    fact_from_event,
    facts_from_events,
)
from domain.reporting.outcomes import outcome_report
from domain.reporting.response_rates import response_rates
from tests.unit.reporting.history import History, at, params

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "spec" / "examples"
RECORD_TYPES = typing.get_args(fact_records.FactRecord)
SCALARS = (
    msgspec.inspect.IntType,
    msgspec.inspect.FloatType,
    msgspec.inspect.BoolType,
    msgspec.inspect.StrType,
    msgspec.inspect.NoneType,
    msgspec.inspect.UUIDType,
    msgspec.inspect.DateType,
    msgspec.inspect.DateTimeType,
    msgspec.inspect.DecimalType,
    msgspec.inspect.LiteralType,
)


def _scalar(info: msgspec.inspect.Type) -> bool:
    if isinstance(info, msgspec.inspect.UnionType):
        return all(_scalar(member) for member in info.types)
    return isinstance(info, SCALARS)


@pytest.mark.parametrize("record_type", RECORD_TYPES, ids=lambda record_type: record_type.__name__)
def test_every_record_is_one_flat_row_with_its_position_and_void(record_type: type[msgspec.Struct]) -> None:
    info = msgspec.inspect.type_info(record_type)
    assert isinstance(info, msgspec.inspect.StructType)
    fields = {field.name: field.type for field in info.fields}

    assert {"event_id", "position", "occurred_at", "voided_at", "voided_position"} <= set(fields)
    assert [name for name, field_type in fields.items() if not _scalar(field_type)] == []


def test_enrolment_becomes_a_participant_record_with_its_profile_and_a_utc_instant() -> None:
    history = History()
    participant = history.enrol(
        "2025-02-03",
        occurred_at=at("2025-02-03", "09:00:00", "-05:00"),
        cohort="spring",
        age_band="25-34",
        veteran=False,
    )

    record = fact_from_event(history.envelopes[0])

    assert isinstance(record, Participant)
    assert (record.participant_id, record.enrolled_on, record.cohort) == (participant, dt.date(2025, 2, 3), "spring")
    assert (record.age_band, record.gender, record.veteran) == ("25-34", None, False)
    assert record.occurred_at == dt.datetime(2025, 2, 3, 14, 0, tzinfo=dt.UTC)
    assert record.occurred_at.tzinfo is dt.UTC
    assert (record.position, record.voided_at) == (1, None)


def test_hire_keeps_its_wage_as_an_exact_decimal() -> None:
    history = History()
    participant = history.enrol("2025-02-03")
    job = history.hire(participant, "2025-03-03", wage="17.25")

    record = fact_from_event(history.envelopes[-1])

    assert isinstance(record, Hire)
    assert (record.job_id, record.hourly_wage, record.start_date) == (job, Decimal("17.25"), dt.date(2025, 3, 3))


def test_void_is_returned_by_itself_and_marks_the_record_it_names() -> None:
    history = History()
    participant = history.enrol("2025-02-03")
    outreach = history.outreach(participant, at("2025-02-05"))
    outreach_event = history.last_event
    history.void_in(participant, outreach_event, at("2025-02-06", "10:00:00", "+02:00"))
    facts = Facts()
    for envelope in history.envelopes[:-1]:
        apply(facts, envelope)

    void = fact_from_event(history.envelopes[-1])
    marked = apply(facts, history.envelopes[-1])

    assert void == Void(
        voided_event_id=outreach_event, voided_at=dt.datetime(2025, 2, 6, 8, 0, tzinfo=dt.UTC), voided_position=3
    )
    assert isinstance(marked, Outreach)
    assert marked.outreach_id == outreach
    assert (marked.voided_at, marked.voided_position) == (void.voided_at, 3)
    assert facts.participants[participant].outreaches == [marked]


def test_a_second_void_of_the_same_event_changes_nothing() -> None:
    history = History()
    participant = history.enrol("2025-02-03")
    history.outreach(participant, at("2025-02-05"))
    outreach_event = history.last_event
    history.void_in(participant, outreach_event, at("2025-02-06"))
    history.void_in(participant, outreach_event, at("2025-02-07"))
    facts = Facts()
    results = [apply(facts, envelope) for envelope in history.envelopes]

    assert results[3] is None
    assert facts.by_event_id[outreach_event].voided_position == 3


def test_voiding_a_contact_marks_the_contact() -> None:
    history = History()
    contact = history.add_contact()
    history.void(f"contact-{contact}", history.last_event, at("2025-01-02"))

    facts = history.facts()

    assert facts.contacts[contact].voided_position == 2


@pytest.mark.parametrize(
    ("stream", "event_type", "data"),
    [
        ("employer", "employer_added", {"name": "Diner"}),
        ("contact", "contact_updated", {"role": "manager"}),
        ("participant", "job_search_objective_set", {"target_titles": ["cook"]}),
        ("employer", "employer_updated", {"city": "Springfield"}),
    ],
)
def test_events_reports_do_not_use_make_no_record(stream: str, event_type: str, data: dict[str, object]) -> None:
    history = History()
    history.append(f"{stream}-{uuid.uuid4()}", event_type, at("2025-01-01"), data)
    facts = Facts()

    assert fact_from_event(history.envelopes[0]) is None
    assert apply(facts, history.envelopes[0]) is None
    assert (facts.by_event_id, facts.last_position) == ({}, 0)


def test_an_instant_without_an_offset_is_refused() -> None:
    history = History()
    history.append(f"contact-{uuid.uuid4()}", "contact_added", dt.datetime(2025, 1, 1, 12, 0), {"name": "Someone"})

    with pytest.raises(ValueError, match="offset"):
        fact_from_event(history.envelopes[0])


def test_an_invalid_event_is_refused_naming_the_field() -> None:
    history = History()
    participant = history.enrol("2025-02-03")
    history.event(participant, "outreach_sent", at("2025-02-05"), outreach_id=uuid.uuid4(), channel="pigeon")

    with pytest.raises(msgspec.ValidationError, match="channel"):
        fact_from_event(history.envelopes[-1])


def _rows_reloaded(facts: Facts, *, latest_first: bool = False) -> Facts:
    """What a report gets when a projection stored each record as a row (here: as JSON) and loads them back."""
    reloaded = Facts()
    for record in sorted(facts.by_event_id.values(), key=lambda record: record.position, reverse=latest_first):
        row = msgspec.json.decode(msgspec.json.encode(record))
        add_record(reloaded, msgspec.convert(row, type(record)))
    return reloaded


def _example(log: Path) -> list[EventEnvelope]:
    return [
        msgspec.convert({**json.loads(line), "global_position": position}, EventEnvelope)
        for position, line in enumerate(log.read_text().splitlines(), start=1)
    ]


@pytest.mark.parametrize("log", sorted(EXAMPLES.glob("*.jsonl")), ids=lambda log: log.stem)
def test_rows_loaded_in_position_order_give_exactly_the_folded_facts(log: Path) -> None:
    folded = facts_from_events(_example(log))

    assert _rows_reloaded(folded) == folded


@pytest.mark.parametrize("log", sorted(EXAMPLES.glob("*.jsonl")), ids=lambda log: log.stem)
def test_rows_loaded_in_any_order_give_the_same_reports(log: Path) -> None:
    folded = facts_from_events(_example(log))
    reloaded = _rows_reloaded(folded, latest_first=True)
    report_params = params("2025-01-01", "2025-12-31", "2026-06-30")

    assert outcome_report(reloaded, report_params) == outcome_report(folded, report_params)
    assert response_rates(reloaded, report_params, "attempt") == response_rates(folded, report_params, "attempt")
    assert reloaded.last_position == folded.last_position


def test_folding_one_event_at_a_time_equals_folding_the_whole_log() -> None:
    history = History()
    contact = history.add_contact()
    participant = history.enrol("2025-02-03")
    job = history.hire(participant, "2025-03-03", via=contact)
    history.void_in(participant, history.last_event, at("2025-03-04"))
    history.verify(participant, job, "2025-04-01")
    facts = Facts()
    for envelope in history.envelopes:
        apply(facts, envelope)

    whole = facts_from_events(history.envelopes)

    assert msgspec.to_builtins(facts) == msgspec.to_builtins(whole)
    assert isinstance(whole.contacts[contact], Contact)
    assert whole.last_position == len(history.envelopes)
