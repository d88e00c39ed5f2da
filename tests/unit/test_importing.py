"""Given a mapping and an export's rows, when they are mapped and judged, then ids are deterministic, bad rows are
rejected with their line, field and column (never their values), and rows that depend on a rejected row say so."""

from __future__ import annotations

import datetime as dt
import tomllib
import uuid
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from domain.events import ContactAdded, OutreachSent, ParticipantEnrolled
from domain.streams import initial_state
from services.importing.mapping import (
    Candidate,
    ImportMapping,
    MappingContext,
    MappingError,
    Rejection,
    Row,
    Skipped,
    build_mapping,
    load_mapping,
    map_row,
    namespace_of,
)
from services.importing.plan import batches, plan_import
from services.importing.source import read_rows

EXAMPLE_MAPPING = Path(__file__).resolve().parents[2] / "docs" / "examples" / "import-mapping.toml"
PROGRAMME = uuid.UUID("0b9f6d0e-1f7a-4a53-9a53-6c1d0b1f1e01")
COUNSELOR = uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff")
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _context(programme: uuid.UUID = PROGRAMME) -> MappingContext:
    return MappingContext(
        namespace=namespace_of(programme, "casetrack"),
        time_zone=zoneinfo.ZoneInfo("America/Chicago"),
        users_by_email={"counselor@example.org": COUNSELOR},
    )


@pytest.fixture(scope="module")
def mapping() -> ImportMapping:
    return load_mapping(EXAMPLE_MAPPING)


def _row(line: int, **values: str) -> Row:
    return Row(line=line, values={key.replace("_", " "): value for key, value in values.items()})


def _intake(line: int, client: str = "1001", name: str = "Jordan Reyes", **extra: str) -> Row:
    values = {"Date": "01/13/2025", "Staff_Email": "Counselor@Example.org", "Name": name, "Age_Group": "25-34"}
    return _row(line, Record_Type="Client Intake", Client_ID=client, **{**values, **extra})


def _contact(line: int, contact: str = "C-100", name: str = "Dana Whitfield") -> Row:
    return _row(line, Record_Type="Contact", Contact_ID=contact, Date="01/07/2025", Name=name)


def _outreach(line: int, record: str = "A-1", client: str = "1001", contact: str = "C-100", **extra: str) -> Row:
    values = {"Date": "01/20/2025", "Method": "Email", "Purpose": "Intro"}
    return _row(
        line, Record_Type="Outreach", Record_ID=record, Client_ID=client, Contact_ID=contact, **{**values, **extra}
    )


def _mapped(mapping: ImportMapping, row: Row, context: MappingContext | None = None) -> Candidate:
    result = map_row(mapping, row, context or _context())
    assert isinstance(result, Candidate), result
    return result


def _rejected(mapping: ImportMapping, row: Row) -> Rejection:
    result = map_row(mapping, row, _context())
    assert isinstance(result, Rejection), result
    return result


# --- mapping rows ------------------------------------------------------------------------------


def test_an_intake_row_becomes_an_enrolment_with_its_day_at_noon_in_the_source_time_zone(
    mapping: ImportMapping,
) -> None:
    candidate = _mapped(mapping, _intake(7, Veteran="Y"))
    event = candidate.incoming.event
    assert isinstance(event, ParticipantEnrolled)
    assert event.enrolled_on == dt.date(2025, 1, 13)
    assert event.counselor_id == COUNSELOR  # the staff e-mail, whatever its case
    assert event.profile.display_name == "Jordan Reyes" and event.profile.veteran is True
    assert candidate.incoming.occurred_at == dt.datetime(2025, 1, 13, 12, tzinfo=zoneinfo.ZoneInfo("America/Chicago"))
    assert candidate.incoming.stream_id.startswith("participant-")


def test_the_same_source_keys_give_the_same_ids_and_another_programme_other_ids(mapping: ImportMapping) -> None:
    first, again = _mapped(mapping, _outreach(12)), _mapped(mapping, _outreach(40))
    elsewhere = _mapped(mapping, _outreach(12), _context(uuid.uuid4()))
    assert first.incoming.event_id == again.incoming.event_id
    assert first.incoming.stream_id == again.incoming.stream_id
    assert first.incoming.event_id != elsewhere.incoming.event_id
    assert first.incoming.stream_id != elsewhere.incoming.stream_id
    # The participant of an activity row is the participant of their intake row.
    assert first.incoming.stream_id == _mapped(mapping, _intake(7)).incoming.stream_id
    event = first.incoming.event
    assert isinstance(event, OutreachSent)
    contact = _mapped(mapping, _contact(4)).incoming.stream_id
    assert contact == f"contact-{event.contact_id}"


def test_source_values_are_translated_loosely_and_an_empty_optional_cell_is_left_out(mapping: ImportMapping) -> None:
    event = _mapped(mapping, _outreach(12, Method="  phone CALL ", Purpose="")).incoming.event
    assert isinstance(event, OutreachSent)
    assert (event.channel, event.purpose, event.follow_up_of) == ("phone", "other", None)  # purpose's default


@pytest.mark.parametrize(
    ("row", "field", "column", "reason"),
    [
        (_outreach(9, Method="Fax"), "data.channel", "Method", "not one of email, in_person"),
        (_outreach(9, Date="13/45/2025"), "occurred_at", "Date", "not a date in the format %m/%d/%Y or YYYY-MM-DD"),
        (_intake(9, name=""), "data.profile.display_name", "Name", "the cell is empty"),
        (_intake(9, Staff_Email="someone@else.org"), "data.counselor_id", "Staff Email", "names no user"),
        (_intake(9, client=""), "stream_id", "Client ID", "the cell is empty: it is the record's key"),
        (_row(9, Record_Type="Mystery"), "type", "Record Type", "a value that no kind of the mapping takes"),
        (_intake(9, Age_Group="Thirties"), "data.profile.age_band", "Age Group", "not one of 18-24, 25-34"),
    ],
)
def test_a_bad_row_is_rejected_naming_its_line_field_and_column_but_not_its_value(
    mapping: ImportMapping, row: Row, field: str, column: str, reason: str
) -> None:
    rejection = _rejected(mapping, row)
    assert (rejection.line, rejection.field, rejection.column) == (9, field, column)
    assert rejection.reason.startswith(reason), rejection.reason
    for value in row.values.values():
        if len(value) > 3:
            assert value not in rejection.describe()


def test_a_column_missing_from_the_row_is_said_so(mapping: ImportMapping) -> None:
    row = _outreach(9)
    del row.values["Method"]
    assert _rejected(mapping, row).reason.startswith("the column is not in this row")


def test_skipped_kinds_are_skipped(mapping: ImportMapping) -> None:
    assert map_row(mapping, _row(5, Record_Type="case note"), _context()) == Skipped(line=5)


def test_a_row_without_a_key_column_gets_an_id_from_its_content(mapping: ImportMapping) -> None:
    raw = _raw_example()
    del raw["kinds"]["outreach"]["key"]
    keyless = build_mapping(raw)
    one, same, other = (_mapped(keyless, row) for row in (_outreach(1), _outreach(2), _outreach(3, Method="Text")))
    assert one.incoming.event_id == same.incoming.event_id != other.incoming.event_id


def _raw_example() -> dict[str, Any]:
    raw: dict[str, Any] = tomllib.loads(EXAMPLE_MAPPING.read_text(encoding="utf-8"))
    return raw


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (lambda raw: raw["kinds"]["outreach"].update(event="outreach_made"), "kinds.outreach.event", "names no event"),
        (lambda raw: raw["kinds"]["outreach"]["data"].update(chanel="Method"), "kinds.outreach.data.chanel", "no such"),
        (lambda raw: raw["kinds"]["outreach"]["data"].pop("channel"), "kinds.outreach.data", "channel is required"),
        (
            lambda raw: raw["kinds"]["outreach"]["data"].update(channel={"column": "Method", "id": "x"}),
            "kinds.outreach.data.channel",
            "id and user fill only id fields",
        ),
        (lambda raw: raw["kinds"]["outreach"].pop("record"), "kinds.outreach.record", "missing"),
        (lambda raw: raw["source"].update(time_zone="Mars/Olympus"), "source.time_zone", "not a time zone"),
        (lambda raw: raw["source"].update(sytem="x"), "source.sytem", "unknown field"),
    ],
)
def test_a_mapping_that_does_not_fit_the_catalogue_is_refused_naming_the_key(
    change: Any, where: str, says: str
) -> None:
    raw = _raw_example()
    change(raw)
    with pytest.raises(MappingError) as refused:
        build_mapping(raw)
    assert refused.value.where == where and says in refused.value.message, refused.value


def test_several_kinds_need_a_kind_column_or_the_kind_option(mapping: ImportMapping) -> None:
    raw = _raw_example()
    del raw["source"]["kind_column"]
    without = build_mapping(raw)
    with pytest.raises(MappingError):
        without.check_kind_option(None)
    without.check_kind_option("contact")
    candidate = map_row(without, _contact(2), _context(), kind_name="contact")
    assert isinstance(candidate, Candidate) and isinstance(candidate.incoming.event, ContactAdded)


# --- judging rows ------------------------------------------------------------------------------


def _plan(mapping: ImportMapping, rows: list[Row], stored: dict[uuid.UUID, bool] | None = None) -> Any:
    mapped = [item for item in (map_row(mapping, row, _context()) for row in rows) if not isinstance(item, Skipped)]
    streams = {item.incoming.stream_id for item in mapped if isinstance(item, Candidate)}
    states = {s: initial_state(s.split("-", 1)[0]) for s in streams}  # type: ignore[arg-type]
    return plan_import(
        mapping, mapped, states=states, stored=stored or {}, existing=frozenset(), counselors=frozenset({COUNSELOR}),
        now=NOW,
    )  # fmt: skip


def test_rows_are_recorded_in_dependency_order_whatever_their_order_in_the_file(mapping: ImportMapping) -> None:
    plan = _plan(mapping, [_outreach(2), _intake(3), _contact(4)])
    assert plan.rejections == []
    assert [c.line for c in plan.to_record] == [4, 3, 2]  # the contact, the enrolment, then the outreach


def test_a_row_that_depends_on_a_rejected_row_names_that_rows_line(mapping: ImportMapping) -> None:
    plan = _plan(mapping, [_contact(2), _intake(3, name=""), _outreach(4), _outreach(5, record="A-2", contact="C-9")])
    reasons = {r.line: r.describe() for r in plan.rejections}
    assert reasons[3].startswith("data.profile.display_name (column Name): the cell is empty")
    assert reasons[4] == "stream_id (column Client ID): this row's participant (line 3) was rejected"
    assert plan.rejected_records  # the participant of line 3
    plan = _plan(mapping, [_contact(2, name=""), _intake(3), _outreach(4)])
    assert {r.line: r.reason for r in plan.rejections}[4] == "the contact it names (line 2) was rejected"


def test_rows_stored_already_are_present_and_a_stored_id_with_other_content_is_rejected(
    mapping: ImportMapping,
) -> None:
    contact, intake = _mapped(mapping, _contact(2)), _mapped(mapping, _intake(3))
    stored = {contact.incoming.event_id: True, intake.incoming.event_id: False}
    plan = _plan(mapping, [_contact(2), _intake(3), _contact(4)], stored)
    assert [c.line for c in plan.present] == [2, 4]  # line 4 repeats line 2
    assert [(r.line, r.field) for r in plan.rejections] == [(3, "event_id")]
    assert "recorded already with other content" in plan.rejections[0].reason


def test_a_repeated_key_with_other_content_is_rejected(mapping: ImportMapping) -> None:
    plan = _plan(mapping, [_contact(2), _intake(3), _outreach(4), _outreach(5, Method="Text")])
    assert [(r.line, r.reason) for r in plan.rejections] == [(5, "line 4 has the same key with other content")]


def test_participants_are_recorded_a_request_each_and_records_several_a_request(mapping: ImportMapping) -> None:
    rows = [_contact(2, "C-1"), _contact(3, "C-2"), _contact(4, "C-3"), _intake(5, "1"), _intake(6, "2")]
    rows += [_outreach(7, "A-1", "1", "C-1"), _outreach(8, "A-2", "1", "C-2"), _outreach(9, "A-3", "1", "C-3")]
    plan = _plan(mapping, rows)
    assert plan.rejections == []
    assert [[c.line for c in request] for request in batches(plan.to_record, 2)] == [
        [2, 3],
        [4],
        [5, 7],
        [8, 9],
        [6],
    ]


# --- reading exports ---------------------------------------------------------------------------


def test_csv_rows_are_named_by_the_line_they_start_on(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text('\ufeffA,B\n1,"two\nlines"\n\n3,4,5\n6\n', encoding="utf-8")
    rows = read_rows(path, "csv")
    assert [(type(r).__name__, r.line) for r in rows] == [("Row", 2), ("Rejection", 5), ("Row", 6)]
    first, _, short = rows
    assert isinstance(first, Row) and first.values == {"A": "1", "B": "two\nlines"}
    assert isinstance(short, Row) and short.values == {"A": "6"}  # B is missing from this row


def test_json_lines_that_do_not_parse_are_rejected_alone(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n[1]\n', encoding="utf-8")
    rows = read_rows(path, "jsonl")
    assert [(type(r).__name__, r.line) for r in rows] == [("Row", 1), ("Rejection", 3), ("Rejection", 4)]
