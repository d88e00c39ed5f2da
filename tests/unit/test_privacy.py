"""Which fields are personal, and how they are masked for the folds: pure functions, no I/O."""

from __future__ import annotations

import msgspec

from domain.events import EVENT_TYPES, EVENTS_BY_STREAM
from domain.privacy import PERSONAL_FIELDS, SEALED, SUBJECT_KINDS, masked, personal_values


def test_every_personal_field_is_a_string_field_of_an_event_of_a_persons_stream() -> None:
    for event_type, paths in PERSONAL_FIELDS.items():
        assert any(event_type in EVENTS_BY_STREAM[kind] for kind in SUBJECT_KINDS)
        for path in paths:
            owner: type[msgspec.Struct] = EVENT_TYPES[event_type]
            for part in path[:-1]:
                owner = {f.name: f.type for f in msgspec.structs.fields(owner)}[part]
            assert path[-1] in {f.name for f in msgspec.structs.fields(owner)}, (event_type, path)


def test_masking_replaces_each_personal_value_and_leaves_the_rest_and_the_original_alone() -> None:
    data = {"enrolled_on": "2026-03-01", "profile": {"display_name": "Ann Example", "age_band": "25-34"}}
    assert masked("participant_enrolled", data) == {
        "enrolled_on": "2026-03-01",
        "profile": {"display_name": SEALED, "age_band": "25-34"},
    }
    assert data["profile"] == {"display_name": "Ann Example", "age_band": "25-34"}


def test_absent_and_null_fields_are_not_personal_values() -> None:
    data = {"name": "Bo", "email": None, "organization": "Acme"}
    assert list(personal_values("contact_updated", data)) == [(("name",), "Bo")]
    assert masked("contact_updated", data) == {"name": SEALED, "email": None, "organization": "Acme"}
    assert masked("employer_added", {"name": "Acme"}) == {"name": "Acme"}
