"""Exports the worker renders: the API asks, the worker renders, PostgreSQL holds both the request and the file.

Rendering a PDF of a big programme's report takes about a second of CPU; in the
API process that second is taken from every other request. So the API stores
the report body it answered (figures only, already suppressed for a funder),
keyed by the body's hash and the format, wakes the worker, and waits a little
for the file. The worker claims pending requests (``FOR UPDATE SKIP LOCKED``,
so several workers share them), renders them off its event loop and stores the
file. A claim left by a worker that died expires after ``CLAIM_SECONDS``; a
body that fails ``MAX_ATTEMPTS`` times is marked failed. Redis only wakes the
worker (the job carries nothing); the worker's sweep finds requests without it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg
import msgspec

from infra.db import Connection
from infra.exports import report_csv, report_pdf, report_xlsx

RENDERERS: Final[dict[str, Callable[..., bytes]]] = {"csv": report_csv, "xlsx": report_xlsx, "pdf": report_pdf}
CLAIM_SECONDS: Final = 60
MAX_ATTEMPTS: Final = 3
POLL_SECONDS: Final = 0.05
_log = logging.getLogger("peoplelinks.exports")


class ExportState(msgspec.Struct, frozen=True, kw_only=True):
    """Where a requested export stands: its file once rendered, or why it could not be."""

    content: bytes | None = None
    failure: str | None = None

    @property
    def done(self) -> bool:
        """Rendered or given up on."""
        return self.content is not None or self.failure is not None


class RendersBusy(Exception):
    """Every render slot of this process stayed taken while the request waited: ask again after ``retry_after``."""

    def __init__(self, slots: int, retry_after: int) -> None:
        super().__init__(
            f"this server renders at most {slots} CSV or XLSX exports at once and all are taken: "
            f"retry after {retry_after} s"
        )
        self.slots = slots
        self.retry_after = retry_after


class RenderSlot:
    """A slot taken: the thread its render runs in, once started."""

    def __init__(self) -> None:
        self.thread: asyncio.Future[bytes] | None = None

    async def render(self, renderer: Callable[..., bytes], /, *args: Any, **kwargs: Any) -> bytes:
        """``renderer(*args, **kwargs)`` in a thread of its own."""
        self.thread = asyncio.ensure_future(asyncio.to_thread(renderer, *args, **kwargs))
        return await asyncio.shield(self.thread)


class RenderSlots:
    """At most ``size`` exports rendering at once in this process; an export waits ``wait`` seconds for a slot.

    Rendering is pure Python that holds the GIL for as long as the interpreter
    lets it: each rendering thread takes a share of the interpreter from the event
    loop, so 64 XLSX exports at once made an admin's status call take 188 ms
    instead of 2. With the renders bounded, other requests only ever compete with
    ``size`` threads. An export that finds no slot within ``wait`` raises
    ``RendersBusy``. A slot is freed when its thread ends, not when its request
    does: a cancelled request cannot stop the thread, which goes on taking its share.
    """

    def __init__(self, size: int, *, wait: float) -> None:
        if size < 1:
            raise ValueError("at least one render slot")
        self.size = size
        self.wait = wait
        self._free = asyncio.Semaphore(size)

    @asynccontextmanager
    async def taken(self) -> AsyncIterator[RenderSlot]:
        """A slot, for as long as the block (and any render started in it) lasts."""
        try:
            async with asyncio.timeout(self.wait):
                await self._free.acquire()
        except TimeoutError:
            raise RendersBusy(self.size, retry_after=max(1, math.ceil(self.wait))) from None
        slot = RenderSlot()
        try:
            yield slot
        finally:
            if slot.thread is None or slot.thread.done():
                self._free.release()
            else:
                slot.thread.add_done_callback(lambda _: self._free.release())


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


_STATE = "SELECT content, failure FROM report_exports WHERE programme_id = $1 AND hash = $2 AND format = $3"


async def request_export(conn: Connection, programme_id: uuid.UUID, body: dict[str, Any], format_: str) -> ExportState:
    """The export of this report body, asking the worker for it when nobody has yet."""
    row = await conn.fetchrow(_STATE, programme_id, body["hash"], format_)
    if row is not None:
        return ExportState(content=row["content"], failure=row["failure"])
    await conn.execute(
        """INSERT INTO report_exports (programme_id, hash, format, body) VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT DO NOTHING""",
        programme_id,
        body["hash"],
        format_,
        msgspec.json.encode(body).decode(),
    )
    return ExportState()


async def wait_for_export(
    conn: Connection, programme_id: uuid.UUID, report_hash: str, format_: str, *, seconds: float
) -> ExportState:
    """The export once the worker has rendered it (or given up), or still pending after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        row = await conn.fetchrow(_STATE, programme_id, report_hash, format_)
        state = ExportState() if row is None else ExportState(content=row["content"], failure=row["failure"])
        if state.done or loop.time() >= deadline:
            return state
        await asyncio.sleep(POLL_SECONDS)


_CLAIM = """
UPDATE report_exports SET claimed_at = now(), attempts = attempts + 1
WHERE (programme_id, hash, format) IN (
    SELECT programme_id, hash, format FROM report_exports
    WHERE content IS NULL AND failure IS NULL
      AND (claimed_at IS NULL OR claimed_at < now() - make_interval(secs => $1))
    ORDER BY requested_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING programme_id, hash, format, body, attempts
"""


async def render_pending(pool: asyncpg.Pool, *, limit: int = 4) -> int:
    """Render up to ``limit`` pending exports (the worker's job); how many were stored."""
    rendered = 0
    for row in await pool.fetch(_CLAIM, CLAIM_SECONDS, limit):
        key = (row["programme_id"], row["hash"], row["format"])
        try:
            body = row["body"] if isinstance(row["body"], dict) else msgspec.json.decode(row["body"])
            content = await render(pool, row["programme_id"], body, row["format"])
        except Exception as e:
            # The body holds figures only, but the log says no more than the kind of failure.
            _log.warning(
                "rendering a %s export failed (%s), attempt %d", row["format"], type(e).__name__, row["attempts"]
            )
            if row["attempts"] >= MAX_ATTEMPTS:
                await pool.execute(
                    """UPDATE report_exports SET failure = $4
                       WHERE programme_id = $1 AND hash = $2 AND format = $3""",
                    *key,
                    type(e).__name__,
                )
            continue
        await pool.execute(
            """UPDATE report_exports SET content = $4, rendered_at = now()
               WHERE programme_id = $1 AND hash = $2 AND format = $3""",
            *key,
            content,
        )
        rendered += 1
    return rendered


# Kept: the newest ``$2`` rendered (or failed) exports of each programme, none older than ``$1``.
_PRUNE = """
DELETE FROM report_exports
WHERE coalesce(rendered_at, requested_at) < now() - $1::interval
   OR (programme_id, hash, format) IN (
        SELECT programme_id, hash, format FROM (
            SELECT programme_id, hash, format,
                   row_number() OVER (
                       PARTITION BY programme_id ORDER BY coalesce(rendered_at, requested_at) DESC, hash, format
                   ) AS newest
            FROM report_exports
            WHERE content IS NOT NULL OR failure IS NOT NULL
        ) done
        WHERE newest > $2
   )
"""


async def prune_exports(pool: asyncpg.Pool, *, keep: dt.timedelta, per_programme: int) -> int:
    """Delete stored exports older than ``keep``, and each programme's beyond its newest ``per_programme``.

    A stored file is a cache of a report body that can be rendered again, so
    nothing is lost: asking for a pruned export renders it anew. Requests still
    waiting for the worker are not counted against ``per_programme``. Answers
    how many rows went (the worker's job).
    """
    status = await pool.execute(_PRUNE, keep, per_programme)
    return int(status.split()[-1])
