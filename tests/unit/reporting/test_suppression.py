"""Funder suppression: small counts hidden, their complements hidden, rates over hidden counts hidden."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.events import HIRE_SOURCES
from domain.reporting.measures import ratio
from domain.reporting.outcomes import (
    BREAKDOWNS,
    OutcomeReport,
    ParticipantOutcome,
    RetentionStatus,
    report_from_outcomes,
)
from domain.reporting.response_rates import GroupBy, ResponseRateRow, ResponseRates
from domain.reporting.suppression import (
    OUTCOME_BASIS,
    OUTCOME_COUNTS,
    OUTCOME_HIDDEN_COUNTS,
    OUTCOME_PARTITIONS,
    ROW_BASIS,
    ROW_COUNTS,
    ROW_HIDDEN_COUNTS,
    Cell,
    Path,
    RowCells,
    outcome_cells,
    response_rate_cells,
    suppress_for_funder,
    suppress_response_rates_for_funder,
)

LIMIT = 11


def outcome(**fields: Any) -> ParticipantOutcome:
    groups = {"counselor": "c1", "cohort": "spring", "age_band": "unknown", "gender": "unknown"}
    groups |= {"race_ethnicity": "unknown", "veteran": "unknown"}
    return ParticipantOutcome(**(groups | fields))


def placed(source: str = "walk_in", **fields: Any) -> ParticipantOutcome:
    return outcome(placed=True, days_to_placement=30, starting_wage=Decimal("16.00"), first_source=source, **fields)


def flat(tree: Mapping[str, object] | msgspec.Struct, prefix: Path = ()) -> dict[Path, Cell]:
    cells: dict[Path, Cell] = {}
    items = tree.items() if isinstance(tree, Mapping) else msgspec.structs.asdict(tree).items()
    for key, value in items:
        if isinstance(value, Cell):
            cells[(*prefix, key)] = value
        else:
            assert isinstance(value, Mapping | msgspec.Struct)
            cells.update(flat(value, (*prefix, key)))
    return cells


def values(tree: Mapping[str, object], prefix: Path = ()) -> dict[Path, Any]:
    found: dict[Path, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            found.update(values(value, (*prefix, key)))
        else:
            found[(*prefix, key)] = value
    return found


# --- the rules one at a time -----------------------------------------------------------------------------------------


def test_counts_from_one_to_ten_are_hidden_and_zero_and_eleven_are_shown() -> None:
    report = report_from_outcomes([placed() for _ in range(10)] + [outcome()])

    cells = flat(suppress_for_funder(report).figures)

    assert cells[("enrolled",)] == Cell(11)
    assert cells[("placed",)] == Cell(None, True)
    assert cells[("hires_by_source", "walk_in")] == Cell(None, True)
    assert cells[("hires_by_source", "referral")] == Cell(0)
    assert cells[("returned_to_custody",)] == Cell(0)


def test_rates_means_and_medians_over_hidden_counts_are_hidden() -> None:
    report = report_from_outcomes([placed(retention_90="retained") for _ in range(10)] + [outcome(outreach_sent=3)])

    cells = flat(suppress_for_funder(report).figures)

    for path in (
        ("placement_rate",),
        ("median_days_to_placement",),
        ("median_starting_wage",),
        ("referral_share",),
        ("outreach_per_participant",),
        ("response_rate",),
        ("retention_90", "rate"),
    ):
        assert cells[path] == Cell(None, True), path
    assert cells[("people_links_per_participant",)] == Cell(0.0)


def test_rates_over_empty_sets_are_null_and_not_suppressed() -> None:
    report = report_from_outcomes([outcome() for _ in range(12)])

    cells = flat(suppress_for_funder(report).figures)

    assert cells[("placement_rate",)] == Cell(0.0)
    assert cells[("median_days_to_placement",)] == Cell(None)
    assert cells[("employed_q2_after_exit",)] == Cell(None)


def test_one_hidden_source_hides_the_next_smallest_non_zero_source_too() -> None:
    sources = ["referral"] * 5 + ["walk_in"] * 12 + ["online_application"] * 13 + ["network_contact"] * 14
    report = report_from_outcomes([placed(source) for source in sources])

    cells = flat(suppress_for_funder(report).figures)

    assert cells[("hires_by_source", "referral")] == Cell(None, True)
    assert cells[("hires_by_source", "walk_in")] == Cell(None, True)
    assert cells[("hires_by_source", "online_application")] == Cell(13)
    assert cells[("hires_by_source", "other")] == Cell(0)
    assert cells[("placed",)] == Cell(44)
    assert cells[("referral_share",)] == Cell(None, True)


def test_one_hidden_group_hides_the_next_smallest_group_of_that_figure() -> None:
    outcomes = [outcome(veteran="true") for _ in range(4)]
    outcomes += [outcome(veteran="false") for _ in range(20)] + [outcome(veteran="unknown") for _ in range(30)]

    view = suppress_for_funder(report_from_outcomes(outcomes))
    enrolled = {group: flat(cells)[("enrolled",)] for group, cells in view.breakdowns["veteran"].items()}

    assert enrolled == {"false": Cell(None, True), "true": Cell(None, True), "unknown": Cell(30)}
    assert flat(view.figures)[("enrolled",)] == Cell(54)


def test_funders_get_no_counselor_breakdown_and_staff_see_everything() -> None:
    report = report_from_outcomes([placed(counselor="c1"), outcome(counselor="c2")])

    funder = suppress_for_funder(report)
    staff = outcome_cells(report)

    assert list(funder.breakdowns) == [name for name in BREAKDOWNS if name != "counselor"]
    assert list(staff.breakdowns) == list(BREAKDOWNS)
    assert values(msgspec.to_builtins(staff.figures)) == {
        (*path, "value"): value for path, value in values(msgspec.to_builtins(report.figures)).items()
    } | {(*path, "suppressed"): False for path in values(msgspec.to_builtins(report.figures))}


def test_the_threshold_is_a_programme_setting() -> None:
    report = report_from_outcomes([placed() for _ in range(3)] + [outcome()])

    cells = flat(suppress_for_funder(report, suppress_below=3).figures)

    assert cells[("placed",)] == Cell(3)
    assert cells[("enrolled",)] == Cell(4)
    assert cells[("returned_to_custody",)] == Cell(0)


def test_every_figure_is_either_a_count_or_taken_from_counts() -> None:
    report = report_from_outcomes([placed()])
    leaves = set(values(msgspec.to_builtins(report.figures)))
    counts = set(OUTCOME_COUNTS)
    known = counts | set(OUTCOME_HIDDEN_COUNTS)

    assert leaves == counts | set(OUTCOME_BASIS)
    assert not counts & set(OUTCOME_BASIS)
    assert all(path in known for basis in OUTCOME_BASIS.values() for path in basis)
    assert all(total in counts and set(parts) <= counts for total, parts in OUTCOME_PARTITIONS)
    row_paths = set(ROW_BASIS) | set(ROW_COUNTS) | set(ROW_HIDDEN_COUNTS)
    assert row_paths == {(name,) for name in ResponseRateRow.__struct_fields__}


# --- the response-rate dashboard -------------------------------------------------------------------------------------


def row(sent: int, answered: int, positive: int, median_days: float | None = 1.0) -> ResponseRateRow:
    return ResponseRateRow(
        sent=sent,
        answered=answered,
        response_rate=ratio(answered, sent),
        positive_rate=ratio(positive, sent),
        median_days_to_response=median_days if answered else None,
        ratio_out_per_reply=ratio(sent, answered),
        positive=positive,
    )


def dashboard(groups: Mapping[str, ResponseRateRow], group_by: GroupBy = "channel") -> ResponseRates:
    overall = row(
        sum(r.sent for r in groups.values()),
        sum(r.answered for r in groups.values()),
        sum(r.positive for r in groups.values()),
    )
    return ResponseRates(group_by=group_by, overall=overall, groups=dict(groups))


def test_dashboard_rows_hide_small_counts_and_rates_over_them() -> None:
    rates = dashboard({"email": row(40, 12, 5), "phone": row(30, 20, 15), "text": row(25, 14, 12)})

    view = suppress_response_rates_for_funder(rates)

    assert view.groups["email"].sent == Cell(40)
    assert view.groups["email"].answered == Cell(12)
    assert view.groups["email"].positive_rate == Cell(None, True)
    assert view.groups["email"].response_rate == Cell(0.3)
    assert view.groups["phone"].positive_rate == Cell(0.5)
    assert view.overall.sent == Cell(95)


def test_dashboard_complements_a_single_hidden_group() -> None:
    rates = dashboard({"email": row(40, 3, 0), "phone": row(30, 20, 15), "text": row(25, 14, 12)})

    view = suppress_response_rates_for_funder(rates)

    assert view.groups["email"].answered == Cell(None, True)
    assert view.groups["text"].answered == Cell(None, True)
    assert view.groups["phone"].answered == Cell(20)
    assert view.groups["text"].ratio_out_per_reply == Cell(None, True)
    assert view.groups["email"].median_days_to_response == Cell(None, True)
    assert view.overall.answered == Cell(37)


def test_dashboard_for_funders_has_no_counselor_groups() -> None:
    rates = dashboard({"c1": row(40, 12, 11), "c2": row(30, 20, 15)}, group_by="counselor")

    assert suppress_response_rates_for_funder(rates).groups == {}
    assert set(response_rate_cells(rates).groups) == {"c1", "c2"}


# --- properties over random reports ----------------------------------------------------------------------------------

STATUSES: st.SearchStrategy[RetentionStatus | None] = st.sampled_from([None, "retained", "lost", "unknown"])


@st.composite
def participant_outcomes(draw: st.DrawFn) -> ParticipantOutcome:
    is_placed = draw(st.booleans())
    sent = draw(st.integers(0, 4))
    groups: dict[str, Any] = {
        "counselor": draw(st.sampled_from(["c1", "c2"])),
        "cohort": draw(st.sampled_from(["spring", "summer", "unknown"])),
        "age_band": draw(st.sampled_from(["18-24", "25-34", "unknown"])),
        "gender": draw(st.sampled_from(["woman", "man", "unknown"])),
        "race_ethnicity": draw(st.sampled_from(["a", "b", "unknown"])),
        "veteran": draw(st.sampled_from(["true", "false", "unknown"])),
    }
    common: dict[str, Any] = {
        "people_links": draw(st.integers(0, 2)),
        "outreach_sent": sent,
        "outreach_answered": draw(st.integers(0, sent)),
        "employed_q2_after_exit": draw(st.sampled_from([None, True, False])),
        "employed_q4_after_exit": draw(st.sampled_from([None, True, False])),
        "returned_to_custody": draw(st.booleans()),
    }
    if not is_placed:
        return ParticipantOutcome(**groups, **common)
    return ParticipantOutcome(
        **groups,
        **common,
        placed=True,
        placed_within_180d=draw(st.booleans()),
        days_to_placement=draw(st.integers(0, 400)),
        starting_wage=draw(st.sampled_from([None, Decimal("15.00"), Decimal("18.25")])),
        first_source=draw(st.sampled_from(HIRE_SOURCES)),
        retention_30=draw(STATUSES),
        retention_90=draw(STATUSES),
        retention_180=draw(STATUSES),
        second_job_or_promotion=draw(st.booleans()),
    )


reports = st.lists(participant_outcomes(), max_size=90).map(report_from_outcomes)


def _scopes(report: OutcomeReport, view: Mapping[str, Any]) -> list[tuple[dict[Path, Any], dict[Path, Cell]]]:
    """(original values, funder cells) of the whole report and of every group shown to funders."""
    scopes = [(values(msgspec.to_builtins(report.figures)), flat(view["figures"]))]
    for name, groups in view["breakdowns"].items():
        for group, cells in groups.items():
            original = report.breakdowns[name][group]
            scopes.append((values(msgspec.to_builtins(original.figures)), flat(cells)))
    return scopes


def _recoverable(total: Cell, parts: Sequence[tuple[Cell, int]]) -> list[int]:
    """Hidden part values equal to the total minus the visible parts (only when the total is shown)."""
    if total.suppressed:
        return []
    visible = sum(int(cell.value or 0) for cell, _ in parts if not cell.suppressed)
    assert total.value is not None
    return [original for cell, original in parts if cell.suppressed and original == total.value - visible]


@settings(max_examples=150, deadline=None)
@given(reports)
def test_funders_never_see_a_count_from_one_to_ten(report: OutcomeReport) -> None:
    view = suppress_for_funder(report)

    for original, cells in _scopes(report, {"figures": view.figures, "breakdowns": view.breakdowns}):
        for path in OUTCOME_COUNTS:
            cell = cells[path]
            assert cell.suppressed or cell.value == 0 or (cell.value is not None and cell.value >= LIMIT), path
            assert cell.suppressed or cell.value == original[path]
    assert "counselor" not in view.breakdowns


@settings(max_examples=150, deadline=None)
@given(reports)
def test_no_hidden_count_is_a_total_minus_the_visible_cells_of_its_breakdown(report: OutcomeReport) -> None:
    view = suppress_for_funder(report)
    whole = flat(view.figures)
    whole_values = values(msgspec.to_builtins(report.figures))

    for original, cells in _scopes(report, {"figures": view.figures, "breakdowns": view.breakdowns}):
        for total, parts in OUTCOME_PARTITIONS:
            assert _recoverable(cells[total], [(cells[part], original[part]) for part in parts]) == [], (total, parts)
    for name, groups in view.breakdowns.items():
        group_cells = {group: flat(cells) for group, cells in groups.items()}
        group_values = {group: values(msgspec.to_builtins(report.breakdowns[name][group].figures)) for group in groups}
        for path in OUTCOME_COUNTS:
            across = [(group_cells[group][path], group_values[group][path]) for group in groups]
            assert sum(original for _, original in across) == whole_values[path]
            assert _recoverable(whole[path], across) == [], (name, path)


@settings(max_examples=150, deadline=None)
@given(reports)
def test_a_shown_rate_is_taken_only_from_shown_or_large_counts(report: OutcomeReport) -> None:
    view = suppress_for_funder(report)
    populations = msgspec.to_builtins(report.populations)

    cells = flat(view.figures)
    for path, basis in OUTCOME_BASIS.items():
        if cells[path].suppressed:
            continue
        for count in basis:
            if count[0] == "populations":
                assert populations[count[1]] == 0 or populations[count[1]] >= LIMIT, (path, count)
            else:
                assert not cells[count].suppressed, (path, count)


@st.composite
def dashboards(draw: st.DrawFn) -> ResponseRates:
    names = draw(st.lists(st.sampled_from(["email", "phone", "text", "letter", "other"]), unique=True, max_size=5))
    groups = {}
    for name in names:
        sent = draw(st.integers(0, 40))
        groups[name] = row(sent, draw(st.integers(0, sent)), draw(st.integers(0, sent)))
    return dashboard(groups)


@settings(max_examples=150, deadline=None)
@given(dashboards())
def test_dashboard_hides_small_counts_and_their_complements(rates: ResponseRates) -> None:
    view = suppress_response_rates_for_funder(rates)
    rows: list[tuple[ResponseRateRow, RowCells]] = [(rates.overall, view.overall)]
    rows += [(rates.groups[group], cells) for group, cells in view.groups.items()]

    for original, cells in rows:
        for name in ("sent", "answered"):
            cell = getattr(cells, name)
            assert cell.suppressed or cell.value == 0 or (cell.value is not None and cell.value >= LIMIT)
            assert cell.suppressed or cell.value == getattr(original, name)
        if not cells.positive_rate.suppressed:
            assert original.positive == 0 or original.positive >= LIMIT
    for name in ("sent", "answered"):
        across = [(getattr(view.groups[group], name), getattr(rates.groups[group], name)) for group in view.groups]
        assert _recoverable(getattr(view.overall, name), across) == []


def _tree_types(tree: msgspec.Struct) -> set[type]:
    return {type(value) for value in flat(tree).values()}


@given(reports)
@settings(max_examples=20, deadline=None)
def test_every_leaf_of_a_view_is_a_cell(report: OutcomeReport) -> None:
    assert _tree_types(suppress_for_funder(report).figures) == {Cell}
    assert _tree_types(outcome_cells(report).figures) == {Cell}
