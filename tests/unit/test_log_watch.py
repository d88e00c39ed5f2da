"""What the whole run's log watch (tests/log_watch.py) finds in a line, and what it leaves alone."""

from __future__ import annotations

import pytest

from services.demo import FIRST_NAMES, LAST_NAMES
from tests.log_watch import EMAIL, Lookout, demo_names, forms
from tests.support import personal

NAME = "Philippa Wolstenholme-Ngata"
PHONE = "+1 555 014 7829"


def test_a_line_holding_a_noted_name_is_found_and_a_line_without_one_is_not() -> None:
    lookout = Lookout([NAME])

    assert lookout.found_in(f"peoplelinks.api WARNING enrolled {NAME}") == [NAME]
    assert lookout.found_in("peoplelinks.http INFO POST /v1/participants/{participant_id:uuid}/events 201") == []


def test_a_name_is_found_in_any_letter_case() -> None:
    lookout = Lookout([NAME])

    assert lookout.found_in(f'{{"message": "{NAME.lower()}"}}') == [NAME.lower()]
    assert lookout.found_in(NAME.upper()) == [NAME.upper()]


def test_a_phone_number_is_found_without_its_spaces_with_dashes_and_as_digits() -> None:
    lookout = Lookout([PHONE])

    assert forms(PHONE) == {PHONE, "+15550147829", "+1-555-014-7829", "15550147829"}
    for written in forms(PHONE):
        assert lookout.found_in(f"phone={written};") == [written]


def test_a_value_inside_a_longer_word_or_number_is_not_found() -> None:
    lookout = Lookout(["Test Person", PHONE])

    assert lookout.found_in("a Test Personnel file") == []
    assert lookout.found_in("position 915550147829 of the store") == []


def test_a_bare_first_name_is_refused_as_a_value_to_look_for() -> None:
    # "Ann" is in "Announce": searched for, it would be found where no person is.
    with pytest.raises(ValueError, match="too short"):
        personal("Ann")


def test_every_name_the_demo_gives_a_person_is_found() -> None:
    lookout = Lookout([], demo_names())

    assert lookout.found_in(f"as contact {FIRST_NAMES[0]} {LAST_NAMES[-1]}.") == [f"{FIRST_NAMES[0]} {LAST_NAMES[-1]}"]
    assert lookout.found_in(f"participant {FIRST_NAMES[-1]} {LAST_NAMES[0][0]}. enrolled") == [
        f"{FIRST_NAMES[-1]} {LAST_NAMES[0][0]}."
    ]
    assert lookout.found_in(f"{FIRST_NAMES[0]} appears alone, as does {LAST_NAMES[0]}") == []
    assert lookout.count == len(FIRST_NAMES) * (len(LAST_NAMES) + len({n[0] for n in LAST_NAMES}))


def test_any_email_address_is_found_but_not_a_database_url() -> None:
    lookout = Lookout([], [(EMAIL, 0)])

    assert lookout.found_in("login failed for admin-1a2b3c4d@northside.example") == ["admin-1a2b3c4d@northside.example"]
    assert lookout.found_in("connecting to postgresql://postgres@127.0.0.1:5432/peoplelinks") == []
    assert lookout.found_in("connecting to postgresql://postgres@localhost/peoplelinks") == []
