"""Bounds on the query parameters every read shares: days within the calendar a report can use, positions in range.

Checked once, before any handler, so no read can reach an ``OverflowError``
(``9999-12-31`` plus a day) or an asyncpg ``DataError`` (a position past
``bigint``): the answer is a 422 naming the parameter.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final

from litestar import Request

from services.api.problems import InvalidRequest

EARLIEST_DAY: Final = dt.date(1900, 1, 1)
LATEST_DAY: Final = dt.date(2999, 12, 31)
DAY_PARAMETERS: Final = frozenset({"as_of", "from", "to"})
"""Dates (or, on the access log, RFC 3339 times) of reads and reports."""
POSITION_PARAMETERS: Final = frozenset({"as_of_position", "before"})
BIGINT: Final = 2**63
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_DAY = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})")


async def check_query_bounds(request: Request[Any, Any, Any]) -> None:
    """Refuse a day outside 1900-01-01..2999-12-31, a negative ``as_of_position`` and any position past bigint.

    Async although it awaits nothing: Litestar runs a sync ``before_request`` in a worker thread, on every request.
    """
    if not request.scope["query_string"]:
        return
    for name, value in request.query_params.items():
        if name in DAY_PARAMETERS:
            _check_day(name, value)
        elif name in POSITION_PARAMETERS and _INTEGER.match(value):
            number = int(value)
            if not -BIGINT <= number < BIGINT or (name == "as_of_position" and number < 0):
                raise InvalidRequest(name, f"{name} must be a position from 0 to {BIGINT - 1}")


def _check_day(name: str, value: str) -> None:
    match = _DAY.match(value)
    if match is None:
        return  # not a date at all: the handler's own parsing says so
    try:
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise InvalidRequest(name, f"{name} must lie between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}")
