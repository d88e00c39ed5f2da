"""Whom a view covers: the participants existing as of it, with their counselor then, found with SQL.

The queries read the ``rm_*`` tables that the ``read_models`` projection keeps;
``_participants_as_of.sql`` is the fragment every programme-wide query starts from.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Final

import asyncpg

from domain.reporting.scope import AsOf
from domain.reporting.snapshot import ViewParams, looking_from
from infra.db import Connection
from projections.queries import load_queries, read_fragment

FOLDER: Final = "caseload_queries"
PARTICIPANTS_AS_OF: Final = read_fragment(FOLDER, "participants_as_of")
QUERIES: Final = load_queries(FOLDER, {"participants_as_of": PARTICIPANTS_AS_OF})

PopulationArgs = tuple[uuid.UUID, int, int, dt.datetime, str | None, uuid.UUID | None]


def population_args(
    programme_id: uuid.UUID, as_of: AsOf, cohort: str | None, counselor_id: uuid.UUID | None
) -> PopulationArgs:
    """``$1``–``$6`` of every query that includes ``participants_as_of``: the report position (P, H) is as_of's."""
    return (programme_id, as_of.position, as_of.horizon, as_of.end, cohort, counselor_id)


async def caseload(conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, params: ViewParams) -> list[uuid.UUID]:
    """The participants existing as of ``params.as_of`` of its cohort and counselor (a counselor's caseload)."""
    as_of = looking_from(params)
    rows = await conn.fetch(
        QUERIES["caseload"], *population_args(programme_id, as_of, params.cohort, params.counselor_id)
    )
    return [row["participant_id"] for row in rows]
