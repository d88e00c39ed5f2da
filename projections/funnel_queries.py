"""The programme funnel answered with SQL over the ``rm_*`` tables (``programme_funnel`` is the definition)."""

from __future__ import annotations

import uuid
from typing import Final

import asyncpg

from domain.reporting.pipeline import Funnel
from domain.reporting.snapshot import ViewParams, looking_from
from infra.db import Connection
from projections.caseload_queries import PARTICIPANTS_AS_OF, population_args
from projections.queries import load_queries

QUERIES: Final = load_queries("funnel_queries", {"participants_as_of": PARTICIPANTS_AS_OF})


async def programme_funnel_at(conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, params: ViewParams) -> Funnel:
    """How many participants of ``params``' cohort and counselor reached each step, as of ``params.as_of``."""
    as_of = looking_from(params)
    row = await conn.fetchrow(
        QUERIES["funnel"],
        *population_args(programme_id, as_of, params.cohort, params.counselor_id),
        params.as_of,
    )
    assert row is not None  # an aggregate without GROUP BY always gives its one row
    return Funnel(**{field: row[field] for field in Funnel.__struct_fields__})
