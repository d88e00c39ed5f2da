"""The programme outcome report as files: CSV, XLSX and PDF renderings of its JSON answer (presentation).

Each renderer takes the report exactly as the API answers it (``api.md``, "The
shape of a report": plain builtins, ``audience`` included) and the programme's
name, and returns the file's bytes. They only lay out what the answer says: the
figures, the suppression and the hash were settled when the answer was built,
so a file never shows a cell its audience could not see in the JSON.

One table of labels and definitions (``FIGURES``, ``RETENTION_PARTS``,
``SOURCE_LABELS``) serves the three formats.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, TypeAlias

import asyncpg
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.cell.cell import Cell as SheetCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from domain import events as ev
from domain.reporting.suppression import SUPPRESS_BELOW
from infra.db import Connection
from infra.export_jobs import RenderSlot

Report: TypeAlias = Mapping[str, Any]
"""The outcome report's JSON answer as plain builtins."""
Audience: TypeAlias = Literal["staff", "funder"]
Kind: TypeAlias = Literal["count", "rate", "days", "wage", "mean"]
Value: TypeAlias = int | float | None


class Definition(NamedTuple):
    """How a figure (or a part of one) is named and explained to a reader, and what sort of number it is."""

    label: str
    definition: str
    kind: Kind


def _retention(days: int) -> Definition:
    return Definition(
        f"Retention at {days} days",
        f"Over first jobs that started at least {days} days before the as-of date (the eligible): retained if "
        f"verified, or still held, {days} days or more after the start (leaving for a better job taken within 14 "
        f"days counts as retained); lost if it ended earlier; unknown otherwise. Rate = retained / eligible.",
        "rate",
    )


FIGURES: Final[Mapping[str, Definition]] = {
    "enrolled": Definition(
        "Enrolled",
        "Participants who enrolled in the period (and not after the as-of date): the report's cohort.",
        "count",
    ),
    "placed": Definition("Placed", "Of the cohort, those with a job that had started by the as-of date.", "count"),
    "placement_rate": Definition("Placement rate", "Placed divided by enrolled.", "rate"),
    "placed_within_180d": Definition(
        "Placed within 180 days",
        "Of those placed, those whose first job started within 180 days of enrolling.",
        "count",
    ),
    "median_days_to_placement": Definition(
        "Median days to placement",
        "Over those placed: the median number of days from enrolment to the start of the first job.",
        "days",
    ),
    "median_starting_wage": Definition(
        "Median starting wage (per hour)",
        "Over those placed whose first job has a recorded wage: the median hourly wage of that job.",
        "wage",
    ),
    "hires_by_source": Definition(
        "First hires by source", "Those placed, counted by how their first job was found.", "count"
    ),
    "referral_share": Definition(
        "Referral share", "Share of those placed whose first job came through a referral or a network contact.", "rate"
    ),
    "retention_30": _retention(30),
    "retention_90": _retention(90),
    "retention_180": _retention(180),
    "retention_by_source_90": Definition(
        "Retention at 90 days by source",
        "Retention at 90 days, split by how the first job was found (does a job found through a referral last?).",
        "rate",
    ),
    "second_job_or_promotion": Definition(
        "Second job or promotion",
        "Of those placed, those who started another job or were promoted within 365 days of the first job's start.",
        "count",
    ),
    "people_links_per_participant": Definition(
        "People Links per participant",
        "Mean number of People Links per enrolled participant: contacts who referred them to a job they applied for, "
        "or through whom they were hired.",
        "mean",
    ),
    "outreach_per_participant": Definition(
        "Outreach per participant",
        "Messages the cohort sent to contacts from the start of the period to the as-of date, divided by enrolled.",
        "mean",
    ),
    "response_rate": Definition(
        "Response rate", "Share of those messages that had an answer by the as-of date.", "rate"
    ),
    "employed_q2_after_exit": Definition(
        "Employed in 2nd quarter after exit",
        "WIOA-style: of participants who left the programme (other than by reincarceration) and whose second calendar "
        "quarter after the quarter of exit has ended, the share with a job at some time in that quarter.",
        "rate",
    ),
    "employed_q4_after_exit": Definition(
        "Employed in 4th quarter after exit",
        "WIOA-style: of participants who left the programme (other than by reincarceration) and whose fourth calendar "
        "quarter after the quarter of exit has ended, the share with a job at some time in that quarter.",
        "rate",
    ),
    "returned_to_custody": Definition(
        "Returned to custody",
        "Participants of the cohort who left the programme because they were reincarcerated. Counted beside, never "
        "inside, the employment-after-exit figures.",
        "count",
    ),
}
"""Every figure of the report, in the order ``api.md`` gives them."""

RETENTION_PARTS: Final[Mapping[str, Definition]] = {
    "eligible": Definition("Eligible", "First jobs whose milestone had passed by the as-of date.", "count"),
    "retained": Definition("Retained", "Eligible jobs verified or still held at the milestone.", "count"),
    "lost": Definition("Lost", "Eligible jobs that ended before the milestone.", "count"),
    "unknown": Definition("Unknown", "Eligible jobs with no news at or after the milestone.", "count"),
    "rate": Definition("Retention rate", "Retained divided by eligible; unknown is shown beside it.", "rate"),
}

SOURCE_LABELS: Final[Mapping[str, str]] = {
    "referral": "Referral",
    "network_contact": "Network contact",
    "walk_in": "Walk-in",
    "online_application": "Online application",
    "staffing_agency": "Staffing agency",
    "job_developer": "Job developer",
    "other": "Other",
}
assert set(SOURCE_LABELS) == set(ev.HIRE_SOURCES), "every hire source has a label"

BREAKDOWN_LABELS: Final[Mapping[str, str]] = {
    "counselor": "Counselor",
    "cohort": "Cohort",
    "age_band": "Age band",
    "gender": "Gender",
    "race_ethnicity": "Race and ethnicity",
    "veteran": "Veteran",
}

HEADLINES: Final[tuple[tuple[str, ...], ...]] = (
    ("enrolled",),
    ("placed",),
    ("placement_rate",),
    ("placed_within_180d",),
    ("median_days_to_placement",),
    ("median_starting_wage",),
    ("referral_share",),
    ("retention_30", "rate"),
    ("retention_90", "rate"),
    ("retention_180", "rate"),
    ("second_job_or_promotion",),
    ("employed_q2_after_exit",),
    ("employed_q4_after_exit",),
    ("returned_to_custody",),
    ("people_links_per_participant",),
    ("outreach_per_participant",),
    ("response_rate",),
)
"""The figures a reader looks at first (the PDF's summary and breakdown tables), as paths into ``figures``."""

SUPPRESSED: Final = "suppressed"
NOT_APPLICABLE: Final = "n/a"
"""Shown for a figure with nobody to take it over (a rate over an empty set): not hidden, just empty."""


# --- reading the answer ----------------------------------------------------------------------------------------------


class Leaf(NamedTuple):
    """One cell of a figures object: the figure, the path inside it (source, retention part), and the cell."""

    figure: str
    parts: tuple[str, ...]
    value: Value
    suppressed: bool


def _is_cell(node: object) -> bool:
    return isinstance(node, Mapping) and "value" in node and "suppressed" in node


def _cells_under(node: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    for key, child in node.items():
        if _is_cell(child):
            yield (*path, key), child
        elif isinstance(child, Mapping):
            yield from _cells_under(child, (*path, key))


def leaves(figures: Mapping[str, Any]) -> list[Leaf]:
    """Every cell of a figures object, in the answer's order."""
    return [
        Leaf(path[0], path[1:], cell["value"], bool(cell["suppressed"])) for path, cell in _cells_under(figures, ())
    ]


def _cell(figures: Mapping[str, Any], path: Sequence[str]) -> tuple[Value, bool] | None:
    """The (value, suppressed) at a path of a figures object, or ``None`` when the answer has no such cell."""
    node: Any = figures
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    if not _is_cell(node):
        return None
    return node["value"], bool(node["suppressed"])


def _humanised(key: str) -> str:
    return key.replace("_", " ").capitalize()


def figure_label(figure: str) -> str:
    """The readable name of a figure."""
    known = FIGURES.get(figure)
    return known.label if known is not None else _humanised(figure)


def part_label(part: str) -> str:
    """The readable name of a part of a figure (a hire source or a retention count)."""
    if part in RETENTION_PARTS:
        return RETENTION_PARTS[part].label
    return SOURCE_LABELS.get(part, _humanised(part))


def leaf_kind(figure: str, parts: Sequence[str]) -> Kind:
    """What sort of number a cell holds: a retention part says it; otherwise its figure does."""
    if parts and parts[-1] in RETENTION_PARTS:
        return RETENTION_PARTS[parts[-1]].kind
    known = FIGURES.get(figure)
    return known.kind if known is not None else "mean"


def group_label(group: str) -> str:
    """A breakdown group as a reader sees it (booleans as yes/no)."""
    return {"true": "Yes", "false": "No"}.get(group, group)


def breakdown_label(name: str) -> str:
    """The readable name of a breakdown."""
    return BREAKDOWN_LABELS.get(name, _humanised(name))


def display(value: Value, suppressed: bool, kind: Kind) -> str:
    """A cell as text for a reader: rates as percentages, ``suppressed`` and ``n/a`` spelled out."""
    if suppressed:
        return SUPPRESSED
    if value is None:
        return NOT_APPLICABLE
    match kind:
        case "count":
            return f"{int(value):,}"
        case "rate":
            return f"{value * 100:.1f}%"
        case "days":
            return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
        case "wage" | "mean":
            return f"{value:.2f}"


def audience_of(report: Report) -> Audience:
    """The audience the answer was built for; a file must never say otherwise."""
    audience = report.get("audience")
    if audience == "staff":
        return "staff"
    if audience == "funder":
        return "funder"
    raise ValueError(f"the report names no audience (staff or funder): {audience!r}")


def period_text(report: Report) -> str:
    """The report's period and as-of date in one line."""
    return f"Participants enrolled {report['from']} to {report['to']}, as of {report['as_of']}"


def filters_text(report: Report) -> str | None:
    """The report's optional filters (cohort, counselor), when it has any."""
    filters = [f"{name} {report[name]}" for name in ("cohort", "counselor_id") if report.get(name)]
    return "Only " + " and ".join(filters) if filters else None


def audience_note(audience: Audience, suppress_below: int) -> str:
    """What the reader must know about which cells are shown: suppression for funders, confidentiality for staff."""
    if audience == "funder":
        return (
            f"Small numbers are suppressed to protect participants. Counts from 1 to {suppress_below - 1} are not "
            f"shown, nor rates, means or medians based on them (their numerator, denominator or the people they are "
            f"taken over), nor the next smallest count where one hidden count alone could be recovered by "
            f"subtracting the others from a total. Zero is shown. Hidden cells read '{SUPPRESSED}'. This funder "
            f"edition has no names, no participant ids and no per-counselor figures."
        )
    return (
        "Staff edition: every figure is shown unsuppressed and some may describe very few people. It must not be "
        "shared outside the programme; funders receive the suppressed edition."
    )


NOT_APPLICABLE_NOTE: Final = (
    f"'{NOT_APPLICABLE}' means there was nobody to take the figure over (e.g. no eligible jobs)."
)


def reproduce_note(report: Report) -> str:
    """How to get the very same figures again."""
    return (
        f"These figures include the programme's recorded events up to position {report['global_position']}. "
        f"Asking for the report again with as_of_position={report['global_position']} and the same parameters gives "
        f"the same figures and the same hash, whatever was recorded since. The hash is of the report's JSON answer: "
        f"{report['hash']}."
    )


# --- CSV -------------------------------------------------------------------------------------------------------------

CSV_COLUMNS: Final = ("section", "group", "figure", "part", "value", "suppressed")
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(text: str) -> str:
    # A spreadsheet runs a cell that starts like a formula; names and group values are typed in by people.
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_number(value: Value) -> str:
    if value is None:
        return ""
    # repr gives the shortest text that reads back as the same float: the JSON's number, digit for digit.
    return repr(value) if isinstance(value, float) else str(int(value))


def _csv_rows(section: str, group: str, figures: Mapping[str, Any]) -> Iterator[list[str]]:
    for leaf in leaves(figures):
        value = "" if leaf.suppressed else _csv_number(leaf.value)
        suppressed = "true" if leaf.suppressed else "false"
        yield [section, _csv_text(group), leaf.figure, ".".join(leaf.parts), value, suppressed]


def report_csv(report: Report, programme_name: str, *, suppress_below: int = SUPPRESS_BELOW) -> bytes:
    """The report as one tidy CSV table after a block of ``key,value`` header rows and an empty row.

    Columns ``section, group, figure, part, value, suppressed``: ``section`` is
    ``figures`` or a breakdown's name, ``group`` its group value (empty for the
    whole cohort), ``part`` the path inside a figure joined with ``.`` (``rate``,
    ``referral``, ``referral.rate``), ``value`` the JSON's number (empty when
    suppressed or null) and ``suppressed`` ``true`` or ``false``. UTF-8 with a
    byte order mark and CRLF line ends, so that Excel opens accents correctly.
    """
    audience = audience_of(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header: list[tuple[str, object]] = [
        ("programme", _csv_text(programme_name)),
        ("programme_id", report["programme_id"]),
        ("from", report["from"]),
        ("to", report["to"]),
        ("as_of", report["as_of"]),
    ]
    header += [(name, _csv_text(str(report[name]))) for name in ("cohort", "counselor_id") if report.get(name)]
    header += [
        ("global_position", report["global_position"]),
        ("hash", report["hash"]),
        ("audience", audience),
        ("note", audience_note(audience, suppress_below)),
    ]
    writer.writerows(header)
    writer.writerow([])
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_rows("figures", "", report["figures"]))
    for name, groups in report["breakdowns"].items():
        for group, figures in groups.items():
            writer.writerows(_csv_rows(name, group, figures))
    return out.getvalue().encode("utf-8-sig")


# --- XLSX ------------------------------------------------------------------------------------------------------------

NUMBER_FORMATS: Final[Mapping[Kind, str]] = {
    "count": "#,##0",
    "rate": "0.0%",
    "days": "0.0",
    "wage": "0.00",
    "mean": "0.00",
}
SheetValue: TypeAlias = str | int | float | None
_BOLD: Final = Font(bold=True)
_TITLE: Final = Font(bold=True, size=14)
_GREY: Final = Font(italic=True, color="6E6E6E")
_HEADING_FILL: Final = PatternFill("solid", fgColor="DCE6F0")
_WRAP: Final = Alignment(wrap_text=True, vertical="top")
_RIGHT: Final = Alignment(horizontal="right")


def _put(sheet: Worksheet, row: int, column: int, value: SheetValue, font: Font | None = None) -> SheetCell:
    if isinstance(value, str):
        # A worksheet holds no control characters, which a cohort typed by someone may: shown as U+FFFD.
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str) and value.startswith("="):
        # Text typed by people (names, group values) is text, never a formula.
        cell.data_type = "s"
    if font is not None:
        cell.font = font
    return cell


def _put_value(sheet: Worksheet, row: int, column: int, leaf: tuple[Value, bool] | None, kind: Kind) -> None:
    if leaf is None:
        return
    value, suppressed = leaf
    if suppressed or value is None:
        cell = _put(sheet, row, column, SUPPRESSED if suppressed else NOT_APPLICABLE, _GREY)
        cell.alignment = _RIGHT
        return
    cell = _put(sheet, row, column, value)
    cell.number_format = NUMBER_FORMATS[kind]


def _put_headings(sheet: Worksheet, row: int, headings: Sequence[str]) -> None:
    for column, heading in enumerate(headings, start=1):
        _put(sheet, row, column, heading, _BOLD).fill = _HEADING_FILL
    sheet.freeze_panes = f"C{row + 1}"


def _put_title(sheet: Worksheet, report: Report, programme_name: str, subtitle: str) -> int:
    """The title block every sheet starts with; returns the next free row."""
    _put(sheet, 1, 1, programme_name, _TITLE)
    _put(sheet, 2, 1, subtitle, _BOLD)
    _put(sheet, 3, 1, period_text(report))
    filters = filters_text(report)
    if filters is None:
        return 5
    _put(sheet, 4, 1, filters)
    return 6


def _summary_sheet(sheet: Worksheet, report: Report, programme_name: str, suppress_below: int) -> None:
    audience = audience_of(report)
    row = _put_title(sheet, report, programme_name, "Programme outcome report")
    note = audience_note(audience, suppress_below) + " " + NOT_APPLICABLE_NOTE
    _put(sheet, row, 1, note, _GREY).alignment = _WRAP
    sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=4)
    sheet.row_dimensions[row].height = 64
    row += 2
    _put_headings(sheet, row, ("Figure", "Part", "Value", "Key"))
    for leaf in leaves(report["figures"]):
        row += 1
        _put(sheet, row, 1, figure_label(leaf.figure))
        _put(sheet, row, 2, " / ".join(part_label(part) for part in leaf.parts))
        _put_value(sheet, row, 3, (leaf.value, leaf.suppressed), leaf_kind(leaf.figure, leaf.parts))
        _put(sheet, row, 4, ".".join((leaf.figure, *leaf.parts)), _GREY)
    for column, width in enumerate((36, 30, 14, 40), start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _breakdown_sheet(sheet: Worksheet, report: Report, programme_name: str, name: str) -> None:
    groups: Mapping[str, Mapping[str, Any]] = report["breakdowns"][name]
    row = _put_title(sheet, report, programme_name, f"By {breakdown_label(name).lower()}")
    _put_headings(sheet, row, ("Figure", "Part", *(group_label(group) for group in groups), "Key"))
    shape = leaves(next(iter(groups.values()))) if groups else []
    for leaf in shape:
        row += 1
        path = (leaf.figure, *leaf.parts)
        kind = leaf_kind(leaf.figure, leaf.parts)
        _put(sheet, row, 1, figure_label(leaf.figure))
        _put(sheet, row, 2, " / ".join(part_label(part) for part in leaf.parts))
        for column, figures in enumerate(groups.values(), start=3):
            _put_value(sheet, row, column, _cell(figures, path), kind)
        _put(sheet, row, len(groups) + 3, ".".join(path), _GREY)
    sheet.column_dimensions["A"].width = 36
    sheet.column_dimensions["B"].width = 30
    for column in range(3, len(groups) + 3):
        sheet.column_dimensions[get_column_letter(column)].width = 16
    sheet.column_dimensions[get_column_letter(len(groups) + 3)].width = 40


def _about_sheet(sheet: Worksheet, report: Report, programme_name: str, suppress_below: int) -> None:
    audience = audience_of(report)
    facts: list[tuple[str, SheetValue]] = [
        ("Programme", programme_name),
        ("Programme id", report["programme_id"]),
        ("Enrolled from", report["from"]),
        ("Enrolled to", report["to"]),
        ("As of", report["as_of"]),
    ]
    facts += [(_humanised(name), report[name]) for name in ("cohort", "counselor_id") if report.get(name)]
    facts += [
        ("Event position", report["global_position"]),
        ("Hash", report["hash"]),
        ("Audience", audience),
        ("Small numbers" if audience == "funder" else "Confidentiality", audience_note(audience, suppress_below)),
        ("Empty figures", NOT_APPLICABLE_NOTE),
        ("Reproducing", reproduce_note(report)),
    ]
    _put(sheet, 1, 1, "About this report", _TITLE)
    row = 2
    for key, value in facts:
        row += 1
        _put(sheet, row, 1, key, _BOLD)
        _put(sheet, row, 2, value).alignment = _WRAP
    row += 2
    _put(sheet, row, 1, "Definitions", _TITLE)
    for label, definition in _definitions():
        row += 1
        _put(sheet, row, 1, label, _BOLD).alignment = _WRAP
        _put(sheet, row, 2, definition).alignment = _WRAP
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 100


def _definitions() -> list[tuple[str, str]]:
    """The glossary: every figure, then the parts of a retention figure."""
    glossary = [(known.label, known.definition) for known in FIGURES.values()]
    glossary += [(f"{known.label} (retention)", known.definition) for known in RETENTION_PARTS.values()]
    return glossary


def report_xlsx(report: Report, programme_name: str, *, suppress_below: int = SUPPRESS_BELOW) -> bytes:
    """The report as a workbook: a Summary sheet, one sheet per breakdown (groups as columns) and an About sheet."""
    workbook = Workbook()
    summary = workbook.active
    assert isinstance(summary, Worksheet)
    summary.title = "Summary"
    _summary_sheet(summary, report, programme_name, suppress_below)
    for name in report["breakdowns"]:
        _breakdown_sheet(workbook.create_sheet(breakdown_label(name)[:31]), report, programme_name, name)
    _about_sheet(workbook.create_sheet("About"), report, programme_name, suppress_below)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- PDF -------------------------------------------------------------------------------------------------------------

DEJAVU: Final = Path("/usr/share/fonts/truetype/dejavu")
_DEJAVU_FACES: Final = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
_LATIN1: Final = str.maketrans({"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "≤": "<="})
_INK: Final = (33, 37, 41)
_MUTED: Final = (110, 110, 110)
_COUNT_COLOUR: Final = (31, 78, 121)
_RATE_COLOUR: Final = (0, 128, 128)
_HEADING_COLOUR: Final = (220, 230, 240)
_STRIPE_COLOUR: Final = (244, 246, 249)
_GROUPS_PER_TABLE: Final = 5
_TABLE_SIZE: Final = 8
_LINE_HEIGHT: Final = 4.6
_CELL_PAD_X: Final = 1.5
_CELL_PAD_Y: Final = 1.2


class _ReportPDF(FPDF):
    """A Letter page with the report's footer (position and hash) and, after page 1, a running header."""

    def __init__(self, report: Report, programme_name: str, font_dir: Path) -> None:
        super().__init__(orientation="portrait", unit="mm", format="Letter")
        self.report = report
        self.programme_name = programme_name
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(auto=True, margin=20)
        self.unicode = all((font_dir / name).is_file() for name in _DEJAVU_FACES.values())
        if self.unicode:
            for style, name in _DEJAVU_FACES.items():
                self.add_font("DejaVu", style, str(font_dir / name))
        self.family = "DejaVu" if self.unicode else "Helvetica"
        self.set_title(self.safe(f"{programme_name}: outcome report"))
        self.set_creator("PeopleLinks")

    def safe(self, text: str) -> str:
        """Text the current font can draw: the core fonts know Latin-1 only."""
        if self.unicode:
            return text
        return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")

    def use(self, size: float, style: str = "", colour: tuple[int, int, int] = _INK) -> None:
        """Switch font size, style and colour in one call."""
        self.set_font(self.family, style, size)
        self.set_text_color(*colour)

    def header(self) -> None:
        """A running header naming the programme and period on every page but the first."""
        if self.page_no() == 1:
            return
        self.use(8, colour=_MUTED)
        self.cell(0, 5, self.safe(f"{self.programme_name} · {period_text(self.report)}"), new_y=YPos.NEXT)
        self.ln(3)

    def footer(self) -> None:
        """Position and hash on every page, so any page can be traced back to the figures it shows."""
        self.set_y(-14)
        self.use(7, colour=_MUTED)
        edition = "Funder edition" if audience_of(self.report) == "funder" else "Staff edition - confidential"
        left = f"{edition}. Reproduce with as_of_position={self.report['global_position']}"
        self.cell(self.epw * 0.7, 4, self.safe(left))
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(0, 4, self.safe(str(self.report["hash"])))

    def heading(self, text: str, room: float = 30) -> None:
        """A section heading, on a new page unless ``room`` (mm) of what follows fits below it."""
        if self.will_page_break(11 + min(room, self.eph * 0.8)):
            self.add_page()
        self.ln(3)
        self.use(13, "B")
        self.cell(0, 8, self.safe(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.use(9)

    def paragraph(self, text: str, size: float = 9, colour: tuple[int, int, int] = _INK) -> None:
        """A wrapped paragraph over the page's width."""
        self.use(size, colour=colour)
        self.multi_cell(0, size * 0.5, self.safe(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1.5)

    def table_height(
        self, headings: Sequence[str], rows: Sequence[Sequence[tuple[str, bool]]], widths: Sequence[float]
    ) -> float:
        """About how tall ``grid`` draws a table, in mm (to keep a short table on one page)."""
        height = 0.0
        for index, cells in enumerate([[(heading, False) for heading in headings], *rows]):
            self.use(_TABLE_SIZE, "B" if index == 0 else "")
            lines = max(
                math.ceil(self.get_string_width(self.safe(text)) / max(width - 2 * _CELL_PAD_X, 1.0))
                for (text, _), width in zip(cells, widths, strict=True)
            )
            height += max(lines, 1) * _LINE_HEIGHT + 2 * _CELL_PAD_Y
        return height + 3

    def grid(
        self,
        headings: Sequence[str],
        rows: Sequence[Sequence[tuple[str, bool]]],
        widths: Sequence[float],
        aligns: Sequence[str],
    ) -> None:
        """A table with a shaded heading row; cells flagged True are drawn muted (suppressed, n/a).

        A table that fits on a page starts on a new one rather than break; a longer one
        flows on, its heading row repeated.
        """
        height = self.table_height(headings, rows, widths)
        if height < self.eph * 0.8 and self.will_page_break(height):
            self.add_page()
        muted = FontFace(emphasis="ITALICS", color=_MUTED)
        self.use(_TABLE_SIZE)
        # The rows between the striped ones are filled with the current fill colour: make that white.
        self.set_fill_color(255, 255, 255)
        with self.table(
            cell_fill_color=_STRIPE_COLOUR,
            cell_fill_mode="ROWS",
            col_widths=tuple(widths),
            width=sum(widths),
            align="LEFT",
            text_align=tuple(aligns),
            line_height=_LINE_HEIGHT,
            padding=(_CELL_PAD_Y, _CELL_PAD_X),
            headings_style=FontFace(emphasis="BOLD", fill_color=_HEADING_COLOUR),
            borders_layout="HORIZONTAL_LINES",
        ) as table:
            heading_row = table.row()
            for heading in headings:
                heading_row.cell(self.safe(heading))
            for cells in rows:
                row = table.row()
                for text, is_muted in cells:
                    row.cell(self.safe(text), style=muted if is_muted else None)
        self.ln(3)


def _shown(figures: Mapping[str, Any], path: Sequence[str]) -> tuple[str, bool]:
    """A cell as (text, muted) for a PDF table; an absent cell reads n/a."""
    found = _cell(figures, path)
    if found is None:
        return NOT_APPLICABLE, True
    value, suppressed = found
    return display(value, suppressed, leaf_kind(path[0], path[1:])), suppressed or value is None


def _headline_label(path: Sequence[str]) -> str:
    label = figure_label(path[0])
    return label if path[0].startswith("retention_") or len(path) == 1 else f"{label}: {part_label(path[-1])}"


def _retention_detail(figures: Mapping[str, Any], figure: str) -> str:
    counts = [f"{part} {_shown(figures, (figure, part))[0]}" for part in ("eligible", "retained", "lost", "unknown")]
    return ", ".join(counts)


def _summary(pdf: _ReportPDF, figures: Mapping[str, Any]) -> None:
    rows: list[list[tuple[str, bool]]] = []
    for path in HEADLINES:
        if _cell(figures, path) is None:
            continue
        detail = _retention_detail(figures, path[0]) if path[0].startswith("retention_") else ""
        rows.append([(_headline_label(path), False), _shown(figures, path), (detail, False)])
    pdf.grid(("Figure", "Value", "Detail"), rows, (70, 28, pdf.epw - 98), ("LEFT", "RIGHT", "LEFT"))


AXIS_STEPS: Final = 4


def _count_axis_top(highest: float) -> int:
    """The top of a count axis: four equal whole steps of 1, 2, 2.5 or 5 times a power of ten, reaching ``highest``."""
    wanted = highest / AXIS_STEPS
    if wanted <= 1:
        return AXIS_STEPS
    power = 10 ** math.floor(math.log10(wanted))
    steps = (1, 2, 2.5, 5, 10) if power >= 10 else (1, 2, 5, 10)
    return AXIS_STEPS * int(next(step * power for step in steps if step * power >= wanted))


def _hatch(pdf: _ReportPDF, x: float, y: float, w: float, h: float, step: float = 2.0) -> None:
    """Diagonal lines filling the rectangle: the mark of a suppressed bar."""
    offset = -h
    while offset < w:
        start = max(0.0, -offset)
        end = min(h, w - offset)
        if start < end:
            pdf.line(x + offset + start, y + h - start, x + offset + end, y + h - end)
        offset += step


class _Bar(NamedTuple):
    label: str
    value: Value
    suppressed: bool
    kind: Kind


def _bars(figures: Mapping[str, Any], paths: Sequence[tuple[str, ...]], labels: Sequence[str]) -> list[_Bar]:
    bars = []
    for path, label in zip(paths, labels, strict=True):
        found = _cell(figures, path)
        value, suppressed = found if found is not None else (None, False)
        bars.append(_Bar(label, value, suppressed, leaf_kind(path[0], path[1:])))
    return bars


def _panel(
    pdf: _ReportPDF,
    bars: Sequence[_Bar],
    *,
    title: str,
    top: float,
    box: tuple[float, float, float, float],
    colour: tuple[int, int, int],
    tick: Callable[[float], str],
) -> None:
    """One bar chart in ``box`` (x, y, width, height of the plotting area), with axis ticks and bar labels."""
    x, y, w, h = box
    pdf.use(9, "B")
    pdf.set_xy(x - 12, y - 13)
    pdf.cell(w + 12, 5, pdf.safe(title))
    pdf.set_draw_color(215, 215, 215)
    pdf.set_line_width(0.2)
    for step in range(AXIS_STEPS + 1):
        level = top * step / AXIS_STEPS
        line_y = y + h - h * step / AXIS_STEPS
        pdf.line(x, line_y, x + w, line_y)
        pdf.use(7, colour=_MUTED)
        pdf.set_xy(x - 13, line_y - 2)
        pdf.cell(12, 4, tick(level), align="R")
    slot = w / len(bars)
    bar_w = slot * 0.56
    for index, bar in enumerate(bars):
        bar_x = x + slot * index + (slot - bar_w) / 2
        if bar.suppressed:
            pdf.set_draw_color(*_MUTED)
            pdf.set_line_width(0.15)
            _hatch(pdf, bar_x, y, bar_w, h)
            pdf.set_dash_pattern(dash=1, gap=0.8)
            pdf.rect(bar_x, y, bar_w, h)
            pdf.set_dash_pattern()
            text, text_y = SUPPRESSED, y - 4.5
            pdf.use(7.5, "I", _MUTED)
        elif bar.value is None:
            text, text_y = NOT_APPLICABLE, y + h - 5
            pdf.use(7.5, "I", _MUTED)
        else:
            bar_h = h * min(float(bar.value) / top, 1.0)
            pdf.set_fill_color(*colour)
            if bar_h > 0:
                pdf.rect(bar_x, y + h - bar_h, bar_w, bar_h, style="F")
            text, text_y = display(bar.value, False, bar.kind), y + h - bar_h - 4.5
            pdf.use(8, "B")
        pdf.set_xy(x + slot * index, text_y)
        pdf.cell(slot, 4, text, align="C")
        pdf.use(7.5)
        pdf.set_xy(x + slot * index + 1, y + h + 1.5)
        pdf.multi_cell(slot - 2, 3.4, pdf.safe(bar.label), align="C")
    pdf.set_draw_color(*_INK)
    pdf.set_line_width(0.3)
    pdf.line(x, y + h, x + w, y + h)


def _chart(pdf: _ReportPDF, figures: Mapping[str, Any]) -> None:
    """Placements (counts) beside placement and retention (rates), suppressed bars hatched and labelled."""
    counts = _bars(
        figures,
        [("enrolled",), ("placed",), ("placed_within_180d",)],
        ["Enrolled", "Placed", "Placed within 180 days"],
    )
    rates = _bars(
        figures,
        [("placement_rate",), ("retention_30", "rate"), ("retention_90", "rate"), ("retention_180", "rate")],
        ["Placement rate", "Retained 30 days", "Retained 90 days", "Retained 180 days"],
    )
    visible = [float(bar.value) for bar in counts if not bar.suppressed and bar.value is not None]
    top = _count_axis_top(max(visible, default=0.0))
    # With no count shown the scale means nothing: an axis with numbers would invite reading the hatching as one.
    count_tick: Callable[[float], str] = (lambda level: f"{level:,.0f}") if visible else (lambda level: "")
    height = 62.0
    if pdf.will_page_break(height + 30):
        pdf.add_page()
    y = pdf.get_y() + 16
    left = pdf.l_margin + 13
    gap = 20.0
    counts_w = (pdf.epw - 13 - gap - 13) * 3 / 7
    rates_w = (pdf.epw - 13 - gap - 13) * 4 / 7
    _panel(
        pdf,
        counts,
        title="Participants",
        top=top,
        box=(left, y, counts_w, height),
        colour=_COUNT_COLOUR,
        tick=count_tick,
    )
    _panel(
        pdf,
        rates,
        title="Placement and retention rates",
        top=1.0,
        box=(left + counts_w + gap + 13, y, rates_w, height),
        colour=_RATE_COLOUR,
        tick=lambda level: f"{level * 100:.0f}%",
    )
    pdf.set_xy(pdf.l_margin, y + height + 16)
    pdf.paragraph(
        "Hatched, outlined bars are suppressed: too few people to show the figure. "
        "Retention rates are over first jobs whose milestone had passed by the as-of date.",
        size=7.5,
        colour=_MUTED,
    )


def _sources(pdf: _ReportPDF, figures: Mapping[str, Any]) -> None:
    hires = figures.get("hires_by_source", {})
    rows: list[list[tuple[str, bool]]] = []
    for source in hires:
        rows.append(
            [
                (part_label(source), False),
                _shown(figures, ("hires_by_source", source)),
                *(
                    _shown(figures, ("retention_by_source_90", source, part))
                    for part in ("eligible", "retained", "lost", "unknown", "rate")
                ),
            ]
        )
    headings = ("Source of first job", "First hires", "Eligible at 90 days", "Retained", "Lost", "Unknown", "Rate")
    widths = (37, *((pdf.epw - 37) / 6,) * 6)
    pdf.grid(headings, rows, widths, ("LEFT", *("RIGHT",) * 6))


def _breakdown(pdf: _ReportPDF, name: str, groups: Mapping[str, Mapping[str, Any]]) -> None:
    """The headline figures of each group of a breakdown, a few groups to a table."""
    names = list(groups)
    label_w = 62.0
    group_w = (pdf.epw - label_w) / _GROUPS_PER_TABLE
    tables: list[tuple[list[str], list[list[tuple[str, bool]]], tuple[float, ...]]] = []
    for first in range(0, len(names), _GROUPS_PER_TABLE):
        chunk = names[first : first + _GROUPS_PER_TABLE]
        rows = [
            [(_headline_label(path), False), *(_shown(groups[group], path) for group in chunk)]
            for path in HEADLINES
            if _cell(groups[chunk[0]], path) is not None
        ]
        headings = ["Figure", *(group_label(group) for group in chunk)]
        tables.append((headings, rows, (label_w, *(group_w,) * len(chunk))))
    room = pdf.table_height(*tables[0]) if tables else 10
    pdf.heading(f"By {breakdown_label(name).lower()}", room=room)
    if not tables:
        pdf.paragraph("No participants in any group.")
    for headings, rows, widths in tables:
        pdf.grid(headings, rows, widths, ("LEFT", *("RIGHT",) * (len(widths) - 1)))


def _glossary(pdf: _ReportPDF) -> None:
    rows = [[(label, False), (definition, False)] for label, definition in _definitions()]
    pdf.grid(("Figure", "What it counts"), rows, (52, pdf.epw - 52), ("LEFT", "LEFT"))


def report_pdf(
    report: Report, programme_name: str, *, suppress_below: int = SUPPRESS_BELOW, font_dir: Path = DEJAVU
) -> bytes:
    """The report as a PDF a funder can read: summary, chart, sources, breakdowns, definitions and notes.

    Text is set in DejaVu Sans when ``font_dir`` holds it (Debian's fonts-dejavu-core),
    else in the PDF core Helvetica, which draws Latin-1 only. Every page's footer
    carries the event position and hash the figures can be reproduced from.
    """
    audience = audience_of(report)
    figures: Mapping[str, Any] = report["figures"]
    pdf = _ReportPDF(report, programme_name, font_dir)
    pdf.add_page()
    pdf.use(18, "B")
    pdf.multi_cell(0, 9, pdf.safe(programme_name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.use(12)
    pdf.cell(0, 7, "Programme outcome report", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.use(10, colour=_MUTED)
    pdf.cell(0, 6, pdf.safe(period_text(report)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    filters = filters_text(report)
    if filters is not None:
        pdf.cell(0, 6, pdf.safe(filters), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_fill_color(*((255, 243, 205) if audience == "staff" else (232, 240, 248)))
    pdf.use(8.5)
    note = audience_note(audience, suppress_below)
    pdf.multi_cell(0, 4.4, pdf.safe(note), fill=True, padding=2, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.heading("Headline figures")
    _summary(pdf, figures)
    pdf.paragraph(NOT_APPLICABLE_NOTE + " Rates are shares of the group named in the definition.", 7.5, _MUTED)
    pdf.add_page()
    pdf.heading("Placements and retention")
    _chart(pdf, figures)
    pdf.heading("First hires by source, and retention at 90 days")
    _sources(pdf, figures)
    for name, groups in report["breakdowns"].items():
        _breakdown(pdf, name, groups)
    pdf.add_page()
    pdf.heading("Definitions")
    pdf.paragraph(
        "Every figure is computed from the programme's recorded events, ignoring entries voided as mistakes, "
        "looking from the as-of date: what happened after it does not count."
    )
    _glossary(pdf)
    pdf.heading("Small numbers" if audience == "funder" else "Confidentiality")
    pdf.paragraph(note)
    pdf.heading("Reproducing these figures")
    pdf.paragraph(reproduce_note(report))
    return bytes(pdf.output())


RENDERERS: Final[dict[str, Callable[..., bytes]]] = {"csv": report_csv, "xlsx": report_xlsx, "pdf": report_pdf}
"""Each export format's renderer."""


async def render(
    conn: Connection | asyncpg.Pool,
    programme_id: uuid.UUID,
    body: dict[str, Any],
    format_: str,
    *,
    slot: RenderSlot | None = None,
) -> bytes:
    """A report body rendered in a format, with its programme's name and suppression threshold, off the event loop.

    The one rendering of an export, whether the API does it (CSV, XLSX, in a
    ``slot`` of its ``RenderSlots``) or the worker (the PDF, one at a time).
    """
    programme = await conn.fetchrow("SELECT name, suppress_below FROM programmes WHERE programme_id = $1", programme_id)
    if programme is None:
        raise LookupError("the programme of an export is gone")
    renderer = RENDERERS[format_]
    if slot is None:
        return await asyncio.to_thread(renderer, body, programme["name"], suppress_below=programme["suppress_below"])
    return await slot.render(renderer, body, programme["name"], suppress_below=programme["suppress_below"])
