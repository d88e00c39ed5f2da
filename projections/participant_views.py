"""A participant's timeline, relationships and pipeline, and the follow-up queue, from the ``rm_*`` tables.

These views are small (one participant, one counselor's caseload): the rows of
the participants concerned are loaded (``read_models.load_facts_of``) and the pure
functions of ``domain.reporting`` compute the view, so the definition and the
answer are one code. Nothing is kept between calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final

import asyncpg

from domain.reporting.follow_ups import FollowUpItem, FollowUpParams, follow_up_queue, queue_order
from domain.reporting.pipeline import Pipeline, participant_pipeline
from domain.reporting.relationships import Relationship, TimelineEntry, relationships, timeline
from domain.reporting.snapshot import ViewParams
from infra.db import Connection
from projections.caseload_queries import caseload
from projections.read_models import load_facts_of

FOLLOW_UP_CHUNK: Final = 200
"""Participants loaded at a time for a queue over many (staff's): what one request holds at once."""


async def timeline_at(
    conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, participant_id: uuid.UUID, params: ViewParams
) -> list[TimelineEntry]:
    """The participant's timeline as of ``params.as_of``."""
    return timeline(await load_facts_of(conn, programme_id, [participant_id]), participant_id, params)


async def relationships_at(
    conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, participant_id: uuid.UUID, params: ViewParams
) -> list[Relationship]:
    """The participant's relationships as of ``params.as_of``."""
    return relationships(await load_facts_of(conn, programme_id, [participant_id]), participant_id, params)


async def pipeline_at(
    conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, participant_id: uuid.UUID, params: ViewParams
) -> Pipeline | None:
    """The participant's pipeline as of ``params.as_of``; ``None`` when the participant does not exist then."""
    return participant_pipeline(await load_facts_of(conn, programme_id, [participant_id]), participant_id, params)


async def follow_ups_at(
    conn: Connection | asyncpg.Pool,
    programme_id: uuid.UUID,
    params: FollowUpParams,
    *,
    chunk: int = FOLLOW_UP_CHUNK,
) -> list[FollowUpItem]:
    """The follow-up queue of ``params``' counselor (or of everyone), as of ``params.as_of``.

    The caseload is found with SQL, then read ``chunk`` participants at a time: an
    item depends on its participant's records and the contact directory alone.
    """
    covered: Sequence[uuid.UUID] = await caseload(conn, programme_id, params)
    items: list[FollowUpItem] = []
    for start in range(0, len(covered), chunk):
        facts = await load_facts_of(conn, programme_id, covered[start : start + chunk])
        items += follow_up_queue(facts, params)
    items.sort(key=queue_order)
    return items
