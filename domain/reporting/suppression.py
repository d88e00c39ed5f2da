"""Report answers as cells, and the funder's view of them with small cells suppressed.

A figure is a cell ``{"value", "suppressed"}``. Staff see every cell. A funder sees
no per-counselor breakdown, and (``reports.md``):

- *primary*: any count from 1 to ``suppress_below - 1`` is hidden;
- *complementary*: where exactly one count among the parts of a breakdown is hidden,
  the next smallest non-zero part is hidden too, repeated until no breakdown has a
  single hidden part, so no hidden count is the total minus the visible parts;
- a rate, ratio, mean or median is hidden when a count it is taken from (its
  numerator, denominator or population, see ``OUTCOME_BASIS``) is hidden, or, for
  counts that are not figures themselves (``Populations``), is from 1 to
  ``suppress_below - 1``.

Zero is always shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Final, TypeAlias, Union

import msgspec

from domain import events as ev
from domain.reporting.outcomes import OutcomeFigures, OutcomeReport, Populations
from domain.reporting.response_rates import ResponseRateRow, ResponseRates

Value: TypeAlias = int | float | None
Path: TypeAlias = tuple[str, ...]
Scope: TypeAlias = tuple[str, ...]
"""Which figures object a cell belongs to: ``("figures",)`` or ``("breakdowns", name, group)``."""
CellId: TypeAlias = tuple[Scope, Path]

SUPPRESS_BELOW: Final = 11
FUNDER_HIDDEN_BREAKDOWNS: Final[frozenset[str]] = frozenset({"counselor"})


class JsonNumber:
    """Marks a value that is a JSON number (an int or a float) or null, so documents call it a "number".

    (``int | float`` would be documented as a oneOf of integer and number, which every integer matches twice.)
    """


CellValue: TypeAlias = Annotated[Union[int, float, None], JsonNumber()]  # noqa: UP007 (a Union names the schema)
"""A count keeps its int, a rate its float: decoding a stored answer gives back the same JSON, and hash."""


class Cell(msgspec.Struct, frozen=True):
    """One figure as the API answers it."""

    value: CellValue
    suppressed: bool = False


CellTree: TypeAlias = dict[str, "Cell | CellTree"]
"""Cells while they are worked out, shaped like the figures they come from (then converted to the types below)."""


class RetentionCells(msgspec.Struct, frozen=True, kw_only=True):
    """A retention figure (``reports.md``, Retention) as cells."""

    eligible: Cell
    retained: Cell
    lost: Cell
    unknown: Cell
    rate: Cell


class FigureCells(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome report's figures as cells: the ``figures`` of an answer, and each group of a breakdown."""

    enrolled: Cell
    placed: Cell
    placement_rate: Cell
    placed_within_180d: Cell
    median_days_to_placement: Cell
    median_starting_wage: Cell
    hires_by_source: dict[str, Cell]
    referral_share: Cell
    retention_30: RetentionCells
    retention_90: RetentionCells
    retention_180: RetentionCells
    retention_by_source_90: dict[str, RetentionCells]
    second_job_or_promotion: Cell
    people_links_per_participant: Cell
    outreach_per_participant: Cell
    response_rate: Cell
    employed_q2_after_exit: Cell
    employed_q4_after_exit: Cell
    returned_to_custody: Cell


class RowCells(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the response-rate dashboard as cells (``positive`` stays inside: it is not answered)."""

    sent: Cell
    answered: Cell
    response_rate: Cell
    positive_rate: Cell
    median_days_to_response: Cell
    ratio_out_per_reply: Cell


class OutcomeCells(msgspec.Struct, kw_only=True):
    """The outcome report's ``figures`` and ``breakdowns`` as cells."""

    figures: FigureCells
    breakdowns: dict[str, dict[str, FigureCells]]


class ResponseRateCells(msgspec.Struct, kw_only=True):
    """The response-rate dashboard's ``overall`` and ``groups`` rows as cells."""

    overall: RowCells
    groups: dict[str, RowCells]


# --- which count is behind which figure ------------------------------------------------------------------------------

POPULATIONS: Final = "populations"
RETENTION_FIGURES: Final[tuple[str, ...]] = ("retention_30", "retention_90", "retention_180")
RETENTION_PARTS: Final[tuple[str, ...]] = ("retained", "lost", "unknown")
RETENTION_COUNTS: Final[tuple[str, ...]] = ("eligible", *RETENTION_PARTS)


def _population(name: str) -> Path:
    return (POPULATIONS, name)


def _retention_paths() -> list[Path]:
    prefixes: list[Path] = [(name,) for name in RETENTION_FIGURES]
    prefixes += [("retention_by_source_90", source) for source in ev.HIRE_SOURCES]
    return prefixes


OUTCOME_COUNTS: Final[tuple[Path, ...]] = (
    ("enrolled",),
    ("placed",),
    ("placed_within_180d",),
    *(("hires_by_source", source) for source in ev.HIRE_SOURCES),
    *((*prefix, count) for prefix in _retention_paths() for count in RETENTION_COUNTS),
    ("second_job_or_promotion",),
    ("returned_to_custody",),
)
"""Every count among the figures (the cells primary and complementary suppression apply to)."""

OUTCOME_HIDDEN_COUNTS: Final[tuple[Path, ...]] = tuple(_population(name) for name in Populations.__struct_fields__)
"""Counts behind figures that are not figures themselves."""

OUTCOME_BASIS: Final[dict[Path, tuple[Path, ...]]] = {
    ("placement_rate",): (("placed",), ("enrolled",)),
    ("median_days_to_placement",): (("placed",),),
    ("median_starting_wage",): (_population("with_wage"),),
    # Its numerator is the sum of two hires_by_source cells: showing the share would give away either one
    # when the other is visible, so a hidden part hides it too.
    ("referral_share",): (
        _population("referral_hires"),
        ("placed",),
        ("hires_by_source", "referral"),
        ("hires_by_source", "network_contact"),
    ),
    **{(*prefix, "rate"): ((*prefix, "retained"), (*prefix, "eligible")) for prefix in _retention_paths()},
    ("people_links_per_participant",): (_population("people_links"), ("enrolled",)),
    ("outreach_per_participant",): (_population("outreach_sent"), ("enrolled",)),
    ("response_rate",): (_population("outreach_answered"), _population("outreach_sent")),
    ("employed_q2_after_exit",): (_population("q2_employed"), _population("q2_eligible")),
    ("employed_q4_after_exit",): (_population("q4_employed"), _population("q4_eligible")),
}
"""Each rate, ratio, mean or median → the counts it is taken from (numerator, denominator, population)."""

OUTCOME_PARTITIONS: Final[tuple[tuple[Path, tuple[Path, ...]], ...]] = (
    (("placed",), tuple(("hires_by_source", source) for source in ev.HIRE_SOURCES)),
    *(((*prefix, "eligible"), tuple((*prefix, part) for part in RETENTION_PARTS)) for prefix in _retention_paths()),
    *(
        (("retention_90", count), tuple(("retention_by_source_90", source, count) for source in ev.HIRE_SOURCES))
        for count in RETENTION_COUNTS
    ),
)
"""Within one figures object: (total, the counts that add up to it). Across the groups of a breakdown, every
count of ``OUTCOME_COUNTS`` is a partition of the same count of the whole report too."""

ROW_COUNTS: Final[tuple[Path, ...]] = (("sent",), ("answered",))
ROW_HIDDEN_COUNTS: Final[tuple[Path, ...]] = (("positive",),)
ROW_BASIS: Final[dict[Path, tuple[Path, ...]]] = {
    ("response_rate",): (("answered",), ("sent",)),
    ("positive_rate",): (("positive",), ("sent",)),
    ("median_days_to_response",): (("answered",),),
    ("ratio_out_per_reply",): (("sent",), ("answered",)),
}
ROW_FIELDS: Final[tuple[str, ...]] = (
    "sent",
    "answered",
    "response_rate",
    "positive_rate",
    "median_days_to_response",
    "ratio_out_per_reply",
)
"""The fields of a dashboard row as answered (``positive`` stays inside)."""


# --- the suppression itself ------------------------------------------------------------------------------------------


def _flatten(tree: Mapping[str, object], prefix: Path = ()) -> dict[Path, Value]:
    flat: dict[Path, Value] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, (*prefix, key)))
        else:
            assert value is None or isinstance(value, int | float), value
            flat[(*prefix, key)] = value
    return flat


def _count(value: Value) -> int:
    return 0 if value is None else int(value)


def hidden_counts(
    values: Mapping[CellId, Value],
    counts: Iterable[CellId],
    partitions: Iterable[Sequence[CellId]],
    suppress_below: int,
) -> set[CellId]:
    """The counts to hide: the small ones, then complements until no partition has exactly one hidden part."""
    hidden = {cell for cell in counts if 0 < _count(values[cell]) < suppress_below}
    parts_lists = [tuple(parts) for parts in partitions]
    changed = True
    while changed:
        changed = False
        for parts in parts_lists:
            if sum(1 for cell in parts if cell in hidden) != 1:
                continue
            candidates = [cell for cell in parts if cell not in hidden and _count(values[cell]) > 0]
            if candidates:
                hidden.add(min(candidates, key=lambda cell: _count(values[cell])))
                changed = True
    return hidden


def _cells(
    tree: Mapping[str, object],
    scope: Scope,
    hidden: set[CellId],
    basis: Mapping[Path, tuple[Path, ...]],
    prefix: Path = (),
) -> CellTree:
    cells: CellTree = {}
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, Mapping):
            cells[key] = _cells(value, scope, hidden, basis, path)
            continue
        assert value is None or isinstance(value, int | float), value
        covered = (scope, path) in hidden or any((scope, count) in hidden for count in basis.get(path, ()))
        cells[key] = Cell(None, True) if covered else Cell(value)
    return cells


def _outcome_scopes(
    report: OutcomeReport, breakdowns: Iterable[str]
) -> dict[Scope, tuple[OutcomeFigures, Populations]]:
    scopes: dict[Scope, tuple[OutcomeFigures, Populations]] = {("figures",): (report.figures, report.populations)}
    for name in breakdowns:
        for group, outcome in report.breakdowns[name].items():
            scopes[("breakdowns", name, group)] = (outcome.figures, outcome.populations)
    return scopes


def _figure_cells(figures: OutcomeFigures, scope: Scope, hidden: set[CellId]) -> FigureCells:
    return msgspec.convert(_cells(msgspec.to_builtins(figures), scope, hidden, OUTCOME_BASIS), FigureCells)


def _render_outcome(report: OutcomeReport, breakdowns: Sequence[str], hidden: set[CellId]) -> OutcomeCells:
    return OutcomeCells(
        figures=_figure_cells(report.figures, ("figures",), hidden),
        breakdowns={
            name: {
                group: _figure_cells(outcome.figures, ("breakdowns", name, group), hidden)
                for group, outcome in report.breakdowns[name].items()
            }
            for name in breakdowns
        },
    )


def outcome_cells(report: OutcomeReport) -> OutcomeCells:
    """The staff view: every figure and breakdown as an unsuppressed cell."""
    return _render_outcome(report, list(report.breakdowns), set())


def suppress_for_funder(report: OutcomeReport, suppress_below: int = SUPPRESS_BELOW) -> OutcomeCells:
    """The funder view of the outcome report: no counselor breakdown, small cells and their complements hidden."""
    names = [name for name in report.breakdowns if name not in FUNDER_HIDDEN_BREAKDOWNS]
    scopes = _outcome_scopes(report, names)
    values: dict[CellId, Value] = {}
    for scope, (figures, populations) in scopes.items():
        for path, value in _flatten(msgspec.to_builtins(figures)).items():
            values[(scope, path)] = value
        for path, value in _flatten({POPULATIONS: msgspec.to_builtins(populations)}).items():
            values[(scope, path)] = value
    counts = [(scope, path) for scope in scopes for path in (*OUTCOME_COUNTS, *OUTCOME_HIDDEN_COUNTS)]
    partitions: list[list[CellId]] = [
        [(scope, part) for part in parts] for scope in scopes for _, parts in OUTCOME_PARTITIONS
    ]
    for name in names:
        groups = [("breakdowns", name, group) for group in report.breakdowns[name]]
        partitions += [[(scope, path) for scope in groups] for path in OUTCOME_COUNTS]
    hidden = hidden_counts(values, counts, partitions, suppress_below)
    return _render_outcome(report, names, hidden)


def _row_tree(row: ResponseRateRow) -> dict[str, object]:
    builtins = msgspec.to_builtins(row)
    assert isinstance(builtins, dict)
    return {field: builtins[field] for field in ROW_FIELDS}


def _row_cells(row: ResponseRateRow, scope: Scope, hidden: set[CellId]) -> RowCells:
    return msgspec.convert(_cells(_row_tree(row), scope, hidden, ROW_BASIS), RowCells)


def response_rate_cells(rates: ResponseRates) -> ResponseRateCells:
    """The staff view of the dashboard: every row as unsuppressed cells."""
    return ResponseRateCells(
        overall=_row_cells(rates.overall, ("overall",), set()),
        groups={group: _row_cells(row, ("groups", group), set()) for group, row in rates.groups.items()},
    )


def suppress_response_rates_for_funder(rates: ResponseRates, suppress_below: int = SUPPRESS_BELOW) -> ResponseRateCells:
    """The funder view of the dashboard: small cells and their complements hidden; never per counselor."""
    groups = {} if rates.group_by in FUNDER_HIDDEN_BREAKDOWNS else rates.groups
    rows: dict[Scope, ResponseRateRow] = {("overall",): rates.overall}
    rows.update({("groups", group): row for group, row in groups.items()})
    values: dict[CellId, Value] = {}
    for scope, row in rows.items():
        values[(scope, ("sent",))] = row.sent
        values[(scope, ("answered",))] = row.answered
        values[(scope, ("positive",))] = row.positive
    counts = [(scope, path) for scope in rows for path in (*ROW_COUNTS, *ROW_HIDDEN_COUNTS)]
    partitions = [[(("groups", group), path) for group in groups] for path in ROW_COUNTS]
    hidden = hidden_counts(values, counts, partitions, suppress_below)
    return ResponseRateCells(
        overall=_row_cells(rates.overall, ("overall",), hidden),
        groups={group: _row_cells(row, ("groups", group), hidden) for group, row in groups.items()},
    )
