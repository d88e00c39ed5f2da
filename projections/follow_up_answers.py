"""Stored follow-up answers: each participant's items, computed once and served again while nothing changed.

The follow-up queue is defined per participant by ``domain.reporting.follow_ups``
over that participant's records and the contacts they name. Computing it means
loading those records (at 1M events, a counselor's 250 participants are 58,000
rows, about 0.6 s). So each participant's items are kept in ``follow_up_answers``
for their ``as_of`` with the report position (P, H) they were computed at and the
contacts the participant's records name, and served again for a later ask when
``rm_change_marks`` (kept by the ``read_models`` projection with the rows) shows
that neither the participant nor any of those contacts changed beyond either
position or horizon: then the same rows count at both, and the pure function
gives the same items. ``definition`` is a digest of the code that
computes them, so a deployment with another definition computes afresh.
The table is in PostgreSQL, shared by every API process: none keeps anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Collection, Mapping, Sequence
from importlib import resources
from typing import Final

import msgspec

from domain.reporting.follow_ups import FollowUpItem, FollowUpParams
from infra.db import Connection
from projections.queries import load_queries
from projections.response_rate_queries import zone_name

QUERIES: Final = load_queries("follow_up_answers")
_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(list[FollowUpItem])


def _definition() -> str:
    """A digest of the modules whose code decides a participant's items (and how their rows are read)."""
    digest = hashlib.sha256()
    for package, names in (
        ("domain.reporting", ("facts.py", "follow_ups.py", "outcomes.py", "scope.py", "snapshot.py")),
        ("projections", ("read_models.py",)),
    ):
        for name in names:
            digest.update((resources.files(package) / name).read_bytes())
    return digest.hexdigest()[:32]


DEFINITION: Final = _definition()


def _key(params: FollowUpParams) -> tuple[object, ...]:
    assert params.as_of_position is not None and params.as_of_horizon is not None
    return (
        params.as_of,
        zone_name(params.time_zone),
        params.follow_up_after_days,
        DEFINITION,
        params.as_of_position,
        params.as_of_horizon,
    )


async def stored_answers(
    conn: Connection, programme_id: uuid.UUID, participant_ids: Sequence[uuid.UUID], params: FollowUpParams
) -> dict[uuid.UUID, list[FollowUpItem]]:
    """The items of those of ``participant_ids`` whose stored answer stands for ``params`` (at its position)."""
    rows = await conn.fetch(QUERIES["stored"], programme_id, list(participant_ids), *_key(params))
    return {row["participant_id"]: _DECODER.decode(row["items"]) for row in rows}


async def store_answers(
    conn: Connection,
    programme_id: uuid.UUID,
    answers: Mapping[uuid.UUID, Sequence[FollowUpItem]],
    contacts: Mapping[uuid.UUID, Collection[uuid.UUID]],
    params: FollowUpParams,
) -> None:
    """Keep each participant's freshly computed items for later asks (replacing what was kept for them that day),
    with the contacts its records name (``read_models.contacts_named``): a change of any of them, or of the
    participant, and the answer no longer stands."""
    if not answers:
        return
    participants = list(answers)
    pairs = [(participant, contact) for participant in participants for contact in contacts.get(participant, ())]
    await conn.execute(
        QUERIES["store"],
        programme_id,
        participants,
        *_key(params),
        [_ENCODER.encode(list(answers[participant])) for participant in participants],
        [participant for participant, _ in pairs],
        [contact for _, contact in pairs],
    )


async def forget_answers_before(conn: Connection, programme_id: uuid.UUID, day: dt.date) -> None:
    """Delete the programme's answers for days before ``day`` (its today: no ask for those is expected)."""
    await conn.execute(QUERIES["forget"], programme_id, day)
