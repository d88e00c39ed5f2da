"""The outcome report's CSV, XLSX and PDF files say what its JSON answer says, read back by the tools that read them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from domain.reporting.facts import EventEnvelope, facts_from_events
from domain.reporting.scope import ReportParams
from infra.exports import (
    CSV_COLUMNS,
    DEJAVU,
    FIGURES,
    SUPPRESSED,
    display,
    leaf_kind,
    leaves,
    report_csv,
    report_pdf,
    report_xlsx,
)
from projections.outcome_reports import outcome_body
from tests.generators import demo_log

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "spec" / "examples"
PROGRAMME = uuid.UUID("00000000-0000-4000-8000-000000000001")
NAME = "Second Chance Works – Springfield"
NAME_AS_DRAWN = NAME if (DEJAVU / "DejaVuSans.ttf").is_file() else NAME.replace("–", "-")
"""The name as the PDF draws it: without DejaVu, the core fonts' Latin-1 has no en dash."""


def _envelopes(lines: list[dict[str, Any]]) -> list[EventEnvelope]:
    return [
        msgspec.convert({**line, "global_position": position}, EventEnvelope)
        for position, line in enumerate(lines, start=1)
    ]


def _basics(audience: str) -> dict[str, Any]:
    """The worked example 01_basics as answered to ``audience``."""
    lines = [json.loads(line) for line in (EXAMPLES / "01_basics.jsonl").read_text().splitlines()]
    params = ReportParams(from_date=dt.date(2025, 1, 1), to_date=dt.date(2025, 12, 31), as_of=dt.date(2026, 3, 31))
    facts = facts_from_events(_envelopes(lines))
    body: dict[str, Any] = msgspec.to_builtins(
        outcome_body(
            facts, params, programme_id=PROGRAMME, audience=audience, suppress_below=11, global_position=len(lines)
        )
    )
    return body


def _demo(audience: str) -> dict[str, Any]:
    """A realistic programme of 120 participants: some of a funder's cells shown, some suppressed."""
    until = dt.datetime(2026, 6, 30, 18, tzinfo=dt.UTC)
    counselors = [str(uuid.UUID(int=random.Random(index).getrandbits(128), version=4)) for index in range(3)]
    lines = demo_log(random.Random(7), counselors, participants=120, until=until)
    params = ReportParams(from_date=dt.date(2025, 1, 1), to_date=dt.date(2025, 12, 31), as_of=dt.date(2026, 6, 30))
    facts = facts_from_events(_envelopes(lines))
    body: dict[str, Any] = msgspec.to_builtins(
        outcome_body(
            facts, params, programme_id=PROGRAMME, audience=audience, suppress_below=11, global_position=len(lines)
        )
    )
    return body


@pytest.fixture(scope="module")
def basics_staff() -> dict[str, Any]:
    return _basics("staff")


@pytest.fixture(scope="module")
def basics_funder() -> dict[str, Any]:
    return _basics("funder")


@pytest.fixture(scope="module")
def demo_funder() -> dict[str, Any]:
    return _demo("funder")


def _json_cells(report: dict[str, Any]) -> dict[tuple[str, str, str, str], tuple[Any, bool]]:
    """Every cell of the answer keyed like a CSV row: (section, group, figure, part)."""
    scopes = [("figures", "", report["figures"])]
    scopes += [
        (name, group, figures) for name, groups in report["breakdowns"].items() for group, figures in groups.items()
    ]
    return {
        (section, group, leaf.figure, ".".join(leaf.parts)): (leaf.value, leaf.suppressed)
        for section, group, figures in scopes
        for leaf in leaves(figures)
    }


def _csv_table(data: bytes) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The header block (key → value) and the table of a CSV report."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    blank = rows.index([])
    header = {row[0]: row[1] for row in rows[:blank]}
    columns = rows[blank + 1]
    return header, [dict(zip(columns, row, strict=True)) for row in rows[blank + 2 :]]


def _pdf_text(data: bytes) -> str:
    """The PDF's text with every run of white space (line and cell breaks included) as one space."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


# --- CSV -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["basics_staff", "basics_funder", "demo_funder"])
def test_csv_gives_every_cell_of_the_answer_with_its_value(which: str, request: pytest.FixtureRequest) -> None:
    report = request.getfixturevalue(which)
    header, table = _csv_table(report_csv(report, NAME))

    got = {(row["section"], row["group"], row["figure"], row["part"]): row for row in table}
    expected = _json_cells(report)
    assert list(got) == list(expected)
    for key, (value, suppressed) in expected.items():
        row = got[key]
        assert row["suppressed"] == ("true" if suppressed else "false"), key
        if suppressed or value is None:
            assert row["value"] == "", key
        else:
            assert float(row["value"]) == value, key
            assert ("." in row["value"]) == isinstance(value, float), key
    assert header["programme"] == NAME
    assert (header["from"], header["to"], header["as_of"]) == (report["from"], report["to"], report["as_of"])
    assert header["global_position"] == str(report["global_position"])
    assert header["hash"] == report["hash"]
    assert header["audience"] == report["audience"]


def test_csv_is_utf8_with_a_byte_order_mark_and_the_tidy_columns(basics_staff: dict[str, Any]) -> None:
    data = report_csv(basics_staff, NAME)

    assert data.startswith(b"\xef\xbb\xbf")
    assert "–".encode() in data
    assert b"\r\n" in data
    assert tuple(data.decode("utf-8-sig").split("\r\n\r\n")[1].split("\r\n")[0].split(",")) == CSV_COLUMNS


def test_csv_keeps_a_group_named_like_a_formula_as_text(basics_staff: dict[str, Any]) -> None:
    report = {**basics_staff, "breakdowns": {"cohort": {"=1+1": basics_staff["figures"]}}}

    _, table = _csv_table(report_csv(report, "=HYPERLINK(1)"))

    assert {row["group"] for row in table if row["section"] == "cohort"} == {"'=1+1"}


def test_funder_csv_has_no_counselor_rows(basics_funder: dict[str, Any]) -> None:
    _, table = _csv_table(report_csv(basics_funder, NAME))

    assert "counselor" not in {row["section"] for row in table}
    assert any(row["suppressed"] == "true" for row in table)


# --- XLSX ------------------------------------------------------------------------------------------------------------


def _summary_values(data: bytes) -> dict[str, Any]:
    """The Summary sheet's Value column keyed by its Key column."""
    sheet = load_workbook(io.BytesIO(data))["Summary"]
    rows = list(sheet.iter_rows(values_only=True))
    start = rows.index(("Figure", "Part", "Value", "Key"))
    return {row[3]: row[2] for row in rows[start + 1 :]}


@pytest.mark.parametrize("which", ["basics_staff", "basics_funder", "demo_funder"])
def test_xlsx_summary_numbers_equal_the_answer(which: str, request: pytest.FixtureRequest) -> None:
    report = request.getfixturevalue(which)

    values = _summary_values(report_xlsx(report, NAME))

    expected = {".".join((leaf.figure, *leaf.parts)): leaf for leaf in leaves(report["figures"])}
    assert list(values) == list(expected)
    for key, leaf in expected.items():
        if leaf.suppressed:
            assert values[key] == SUPPRESSED, key
        elif leaf.value is None:
            assert values[key] == "n/a", key
        else:
            # openpyxl writes numbers with 16 significant digits (Excel shows 15): equal to the last digit a
            # spreadsheet keeps.
            assert values[key] == pytest.approx(leaf.value, rel=1e-15, abs=0), key


def test_xlsx_formats_rates_as_percentages_and_has_a_sheet_per_breakdown(basics_staff: dict[str, Any]) -> None:
    workbook = load_workbook(io.BytesIO(report_xlsx(basics_staff, NAME)))

    assert workbook.sheetnames == [
        "Summary",
        "Counselor",
        "Cohort",
        "Age band",
        "Gender",
        "Race and ethnicity",
        "Veteran",
        "About",
    ]
    summary = workbook["Summary"]
    rate = next(row[2] for row in summary.iter_rows() if row[3].value == "placement_rate")
    assert rate.number_format == "0.0%"
    assert rate.value == basics_staff["figures"]["placement_rate"]["value"]
    cohort = workbook["Cohort"]
    rows = list(cohort.iter_rows(values_only=True))
    headings = next(row for row in rows if row[0] == "Figure")
    groups = list(basics_staff["breakdowns"]["cohort"])
    assert list(headings[2:-1]) == groups
    enrolled = next(row for row in rows if row[-1] == "enrolled")
    assert list(enrolled[2:-1]) == [basics_staff["breakdowns"]["cohort"][g]["enrolled"]["value"] for g in groups]
    about = {row[0]: row[1] for row in workbook["About"].iter_rows(values_only=True)}
    assert about["Hash"] == basics_staff["hash"]
    assert about["Event position"] == basics_staff["global_position"]
    assert about["Audience"] == "staff"


def test_xlsx_writes_a_group_named_like_a_formula_as_text(basics_staff: dict[str, Any]) -> None:
    report = {**basics_staff, "breakdowns": {"cohort": {"=1+1": basics_staff["figures"]}}}

    sheet = load_workbook(io.BytesIO(report_xlsx(report, NAME)))["Cohort"]

    heading = next(row for row in sheet.iter_rows() if row[0].value == "Figure")
    assert heading[2].value == "=1+1"
    assert heading[2].data_type == "s"


# --- PDF -------------------------------------------------------------------------------------------------------------


def test_pdf_names_programme_period_hash_and_shows_the_headline_numbers(basics_staff: dict[str, Any]) -> None:
    text = _pdf_text(report_pdf(basics_staff, NAME))
    figures = basics_staff["figures"]

    assert NAME_AS_DRAWN in text
    assert "2025-01-01 to 2025-12-31, as of 2026-03-31" in text
    assert basics_staff["hash"] in text
    assert f"as_of_position={basics_staff['global_position']}" in text
    for figure in ("enrolled", "placed", "placed_within_180d", "placement_rate", "median_starting_wage"):
        assert f"{FIGURES[figure].label} {display(figures[figure]['value'], False, leaf_kind(figure, ()))}" in text
    assert "must not be shared outside the programme" in text


def test_funder_pdf_marks_suppressed_cells_and_explains_them(basics_funder: dict[str, Any]) -> None:
    text = _pdf_text(report_pdf(basics_funder, NAME))

    assert SUPPRESSED in text
    assert "Counts from 1 to 10 are not shown" in text
    assert basics_funder["hash"] in text
    assert "Counselor" not in text


def test_funder_pdf_shows_the_cells_it_may(demo_funder: dict[str, Any]) -> None:
    figures = demo_funder["figures"]
    assert figures["enrolled"]["suppressed"] is False

    text = _pdf_text(report_pdf(demo_funder, NAME))

    assert f"Enrolled {figures['enrolled']['value']:,}" in text
    assert f"Placed {display(figures['placed']['value'], figures['placed']['suppressed'], 'count')}" in text
    assert SUPPRESSED in text


def test_every_pdf_page_carries_the_hash(demo_funder: dict[str, Any]) -> None:
    pages = PdfReader(io.BytesIO(report_pdf(demo_funder, NAME))).pages

    assert len(pages) > 2
    assert all(demo_funder["hash"] in page.extract_text() for page in pages)


def test_pdf_falls_back_to_core_fonts_without_dejavu(basics_staff: dict[str, Any], tmp_path: Path) -> None:
    text = _pdf_text(report_pdf(basics_staff, NAME, font_dir=tmp_path))

    assert "Second Chance Works - Springfield" in text
    assert basics_staff["hash"] in text


def test_a_report_without_an_audience_is_refused(basics_staff: dict[str, Any]) -> None:
    report = {key: value for key, value in basics_staff.items() if key != "audience"}

    for render in (report_csv, report_xlsx, report_pdf):
        with pytest.raises(ValueError, match="audience"):
            render(report, NAME)
