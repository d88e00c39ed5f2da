"""A participant's timeline, relationships and pipeline, and the follow-up queue, from the ``rm_*`` tables.

These views are small (one participant, one counselor's caseload): the rows of
the participants concerned are loaded (``read_models.load_facts_of``) and the pure
functions of ``domain.reporting`` compute the view, so the definition and the
answer are one code. The follow-up queue keeps each participant's answer in
PostgreSQL (``projections.follow_up_answers``) and serves it again while nothing
of theirs changed; no API process keeps anything between calls.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Sequence
from typing import Final

import asyncpg
import msgspec

from domain.reporting.follow_ups import FollowUpItem, FollowUpParams, follow_up_queue, queue_order
from domain.reporting.pipeline import Pipeline, participant_pipeline
from domain.reporting.relationships import Relationship, TimelineEntry, relationships, timeline
from domain.reporting.snapshot import ViewParams
from infra.db import Connection, tenant_connection
from projections import read_models
from projections.caseload_queries import caseload
from projections.follow_up_answers import forget_answers_before, store_answers, stored_answers
from projections.positions import report_position
from projections.read_models import contacts_named, load_facts_of

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
    conn: Connection,
    programme_id: uuid.UUID,
    params: FollowUpParams,
    *,
    chunk: int = FOLLOW_UP_CHUNK,
) -> list[FollowUpItem]:
    """The follow-up queue of ``params``' counselor (or of everyone), as of ``params.as_of``.

    The caseload is found with SQL. Each participant's items are served from
    ``follow_up_answers`` where the stored answer stands for this ask; the others
    are computed, ``chunk`` participants at a time (an item depends on its
    participant's records and the contacts they name alone), and stored. Without a
    report position (P, H) nothing is served or stored: everything is computed.
    """
    return await _follow_ups_of(conn, programme_id, await caseload(conn, programme_id, params), params, chunk)


async def _follow_ups_of(
    conn: Connection, programme_id: uuid.UUID, covered: Sequence[uuid.UUID], params: FollowUpParams, chunk: int
) -> list[FollowUpItem]:
    """The follow-up items of the ``covered`` participants: served where stored answers stand, else computed."""
    pinned = params.as_of_position is not None and params.as_of_horizon is not None
    found = await stored_answers(conn, programme_id, covered, params) if pinned else {}
    missing = [participant_id for participant_id in covered if participant_id not in found]
    # Computed for the participants alone, whatever the filters: the caseload applied them already, and the
    # stored answer of a participant serves any later ask that covers them.
    whole = msgspec.structs.replace(params, cohort=None, counselor_id=None)
    fresh: dict[uuid.UUID, list[FollowUpItem]] = {}
    named: dict[uuid.UUID, set[uuid.UUID]] = {}
    for start in range(0, len(missing), chunk):
        part = missing[start : start + chunk]
        facts = await load_facts_of(conn, programme_id, part)
        fresh.update({participant_id: [] for participant_id in part})
        for item in follow_up_queue(facts, whole):
            fresh[item.participant_id].append(item)
        named.update(contacts_named(facts))
    if pinned:
        await store_answers(conn, programme_id, fresh, named, params)
    items = [item for answer in (*found.values(), *fresh.values()) for item in answer]
    items.sort(key=queue_order)
    return items


PREPARED_EVERY: Final = dt.timedelta(hours=1)
"""How often the worker runs ``prepare_follow_ups`` (its cron job, at ten past each hour): a day that begins
before the next run is prepared ahead."""


def days_to_prepare(now: dt.datetime, zone: dt.tzinfo) -> list[dt.date]:
    """The programme's today at ``now`` and, when the next preparation comes after its midnight, its tomorrow."""
    today = now.astimezone(zone).date()
    next_day = (now + PREPARED_EVERY).astimezone(zone).date()
    return [today] if next_day == today else [today, next_day]


async def prepare_follow_ups(pool: asyncpg.Pool, now: dt.datetime) -> int:
    """Compute and keep every participant's follow-up answer for today, in each programme's zone; how many.

    The worker runs it every hour, so that a counselor's look at the queue finds the
    answers ready (a new day is a new ``as_of``, which no answer of the day before
    serves; a participant's change, or one of a contact their records name, makes
    theirs stale). In the last hour before a programme's midnight it prepares the next
    day's answers too, so that the first looks after midnight find them; the answers of
    days before today are deleted. Idempotent: the answers stored already that stand are
    served, not computed.
    """
    prepared = 0
    for programme in await pool.fetch("SELECT programme_id, time_zone, follow_up_after_days FROM programmes"):
        programme_id: uuid.UUID = programme["programme_id"]
        zone = zoneinfo.ZoneInfo(programme["time_zone"])
        async with tenant_connection(pool, programme_id) as conn:
            days = days_to_prepare(now, zone)
            await forget_answers_before(conn, programme_id, days[0])
            at = await report_position(conn, None, [read_models.NAME])
            for day in days:
                params = FollowUpParams(
                    as_of=day,
                    time_zone=zone,
                    as_of_position=at.position,
                    as_of_horizon=at.horizon,
                    follow_up_after_days=programme["follow_up_after_days"],
                )
                covered = await caseload(conn, programme_id, params)
                await _follow_ups_of(conn, programme_id, covered, params, FOLLOW_UP_CHUNK)
                prepared += len(covered)
    return prepared
