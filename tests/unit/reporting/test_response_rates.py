"""The response-rate dashboard on hand-built logs."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

import pytest

from domain.events import CHANNELS, PURPOSES
from domain.reporting.response_rates import GroupBy, ResponseRates, iso_week, response_rates
from tests.unit.reporting.history import OTHER_COUNSELOR, History, at, on, params


def rates(
    history: History, as_of: str = "2025-12-31", group_by: GroupBy | None = None, **extra: object
) -> ResponseRates:
    return response_rates(history.facts(), params("2025-01-01", "2025-12-31", as_of, **extra), group_by)


def test_five_out_for_one_back_is_a_ratio_of_five() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    outreaches = [history.outreach(participant, at(f"2025-02-0{day}")) for day in range(1, 6)]
    history.respond(participant, outreaches[2], at("2025-02-04", "18:00:00"), "positive")

    overall = rates(history).overall

    assert (overall.sent, overall.answered, overall.positive) == (5, 1, 1)
    assert overall.ratio_out_per_reply == 5.0
    assert overall.response_rate == 0.2
    assert overall.median_days_to_response == 1.25


def test_only_outreach_dated_in_the_period_and_by_as_of_counts() -> None:
    history = History()
    participant = history.enrol("2024-12-01")
    history.outreach(participant, at("2024-12-31", "23:30:00"))
    history.outreach(participant, at("2025-01-01", "00:00:00"))
    history.outreach(participant, at("2025-06-30", "23:59:00"))
    history.outreach(participant, at("2026-01-01", "00:00:00"))

    assert rates(history, as_of="2026-03-01").overall.sent == 2
    assert rates(history, as_of="2025-06-29").overall.sent == 1


def test_period_is_read_in_the_programme_time_zone() -> None:
    history = History()
    participant = history.enrol("2024-12-01")
    history.outreach(participant, at("2025-01-01", "03:00:00"))  # 2024-12-31 22:00 in New York

    assert rates(history).overall.sent == 1
    assert rates(history, time_zone=ZoneInfo("America/New_York")).overall.sent == 0


def test_answered_needs_a_response_dated_by_as_of() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    outreach = history.outreach(participant, at("2025-12-30"))
    history.respond(participant, outreach, at("2025-12-31", "21:00:00", "-05:00"), "positive")

    on_as_of = rates(history, as_of="2025-12-31").overall
    day_after = rates(history, as_of="2026-01-01").overall

    assert (on_as_of.answered, on_as_of.positive_rate, on_as_of.median_days_to_response) == (0, 0.0, None)
    assert (day_after.answered, day_after.positive_rate, day_after.median_days_to_response) == (1, 1.0, 38 / 24)


def test_positive_rate_counts_any_positive_and_the_median_uses_the_earliest_response() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    outreach = history.outreach(participant, at("2025-02-01"))
    history.respond(participant, outreach, at("2025-02-03"), "declined")
    history.respond(participant, outreach, at("2025-02-02"), "neutral")
    history.respond(participant, outreach, at("2025-02-10"), "positive")

    overall = rates(history).overall

    assert (overall.answered, overall.positive_rate, overall.median_days_to_response) == (1, 1.0, 1.0)


def test_voided_response_counts_until_its_void_date() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    outreach = history.outreach(participant, at("2025-02-01"))
    response = history.respond(participant, outreach, at("2025-02-02"), "positive")
    history.void_in(participant, response, at("2025-02-05"))

    assert rates(history, as_of="2025-02-04").overall.answered == 1
    assert rates(history, as_of="2025-02-05").overall.answered == 0


@pytest.mark.parametrize(("group_by", "values"), [("channel", CHANNELS), ("purpose", PURPOSES)])
def test_enum_groupings_list_every_value_with_null_rates(group_by: GroupBy, values: tuple[str, ...]) -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    history.outreach(participant, at("2025-02-01"), channel="phone", purpose="thank_you")

    groups = rates(history, group_by=group_by).groups

    assert list(groups) == list(values)
    assert sum(row.sent for row in groups.values()) == 1
    assert groups["linkedin" if group_by == "channel" else "other"].response_rate is None


def test_attempt_numbers_follow_the_chain_and_restart_after_a_voided_parent() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    first = history.outreach(participant, at("2025-02-01"))
    first_event = history.last_event
    second = history.outreach(participant, at("2025-02-08"), follow_up_of=first)
    history.outreach(participant, at("2025-02-15"), follow_up_of=second)

    history.void_in(participant, first_event, at("2025-03-01"))

    before_void = rates(history, as_of="2025-02-28", group_by="attempt").groups
    after_void = rates(history, as_of="2025-03-01", group_by="attempt").groups

    assert {key: row.sent for key, row in before_void.items()} == {"1": 1, "2": 1, "3": 1}
    assert {key: row.sent for key, row in after_void.items()} == {"1": 1, "2": 1}


def test_attempt_counts_a_parent_sent_before_the_period() -> None:
    history = History()
    participant = history.enrol("2024-12-01")
    parent = history.outreach(participant, at("2024-12-20"))
    history.outreach(participant, at("2025-01-03"), follow_up_of=parent)

    assert list(rates(history, group_by="attempt").groups) == ["2"]


def test_attempt_keys_sort_by_number() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    parent = None
    for day in range(1, 12):
        parent = history.outreach(participant, at(f"2025-03-{day:02d}"), follow_up_of=parent)

    assert list(rates(history, group_by="attempt").groups) == [str(number) for number in range(1, 12)]


def test_week_keys_use_the_iso_week_numbering_year() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    history.outreach(participant, at("2025-12-29"))
    history.outreach(participant, at("2025-01-01"))

    assert list(rates(history, group_by="week").groups) == ["2025-W01", "2026-W01"]
    assert iso_week(on("2021-01-03")) == "2020-W53"


def test_counselor_and_cohort_groups_use_the_counselor_as_of_and_unknown_cohorts() -> None:
    history = History()
    reassigned = history.enrol("2025-01-06", cohort="spring")
    history.outreach(reassigned, at("2025-02-01"))
    history.assign(reassigned, OTHER_COUNSELOR, at("2025-06-01"))
    other = history.enrol("2025-01-06")
    history.outreach(other, at("2025-02-01"))
    enrolment_counselor = history.envelopes[0].data["counselor_id"]

    by_counselor_early = rates(history, as_of="2025-05-31", group_by="counselor").groups
    by_counselor_late = rates(history, group_by="counselor").groups
    by_cohort = rates(history, group_by="cohort").groups

    assert {key: row.sent for key, row in by_counselor_early.items()} == {str(enrolment_counselor): 2}
    assert {key: row.sent for key, row in by_counselor_late.items()} == {
        key: 1 for key in sorted((str(enrolment_counselor), str(OTHER_COUNSELOR)))
    }
    assert list(by_cohort) == ["spring", "unknown"]


def test_filters_and_as_of_position_narrow_the_outreach() -> None:
    history = History()
    spring = history.enrol("2025-01-06", cohort="spring")
    history.outreach(spring, at("2025-02-01"))
    position = history.position
    history.outreach(history.enrol("2025-01-06", counselor=OTHER_COUNSELOR), at("2025-02-01"))

    assert rates(history, cohort="spring").overall.sent == 1
    assert rates(history, counselor_id=OTHER_COUNSELOR).overall.sent == 1
    assert rates(history, as_of_position=position).overall.sent == 1
    assert rates(history).overall.sent == 2


def test_outreach_of_a_voided_participant_does_not_count() -> None:
    history = History()
    participant = history.enrol("2025-01-06")
    enrolment_event = history.last_event
    history.outreach(participant, at("2025-02-01"))
    history.void_in(participant, enrolment_event, at("2025-03-01"))
    history.outreach(history.enrol("2025-01-06"), at("2025-02-01"), contact=uuid.uuid4())

    assert rates(history, as_of="2025-02-28").overall.sent == 2
    assert rates(history).overall.sent == 1
