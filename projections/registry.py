"""Every projection the worker keeps, by name, with its live table."""

from __future__ import annotations

from typing import Final

from projections import report_facts
from projections.runner import Projection

PROJECTIONS: Final[dict[str, tuple[Projection, str]]] = {
    report_facts.NAME: (report_facts.ReportFactsProjection(), report_facts.TABLE),
}
