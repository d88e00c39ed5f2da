"""Report calculations (pure, no I/O): fact records folded from events, and the figures computed from them.

- ``facts``: the flat records report projections keep (one row per event), and the fold
  (``apply`` one event at a time, ``facts_from_events`` for a whole log).
- ``scope``: a report's parameters and what counts when looking from ``as_of``.
- ``snapshot``: what one participant's facts amount to as of a report.
- ``outcomes``: the programme outcome report; ``response_rates``: the dashboard.
- ``suppression``: answers as cells, and the funder's suppressed view.
"""

from domain.reporting.facts import EventEnvelope, Facts, apply, facts_from_events
from domain.reporting.outcomes import OutcomeReport, outcome_report
from domain.reporting.response_rates import ResponseRates, response_rates
from domain.reporting.scope import ReportParams
from domain.reporting.suppression import (
    outcome_cells,
    response_rate_cells,
    suppress_for_funder,
    suppress_response_rates_for_funder,
)

__all__ = [
    "EventEnvelope",
    "Facts",
    "OutcomeReport",
    "ReportParams",
    "ResponseRates",
    "apply",
    "facts_from_events",
    "outcome_cells",
    "outcome_report",
    "response_rate_cells",
    "response_rates",
    "suppress_for_funder",
    "suppress_response_rates_for_funder",
]
