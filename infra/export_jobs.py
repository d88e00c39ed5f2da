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
import logging
import uuid
from collections.abc import Callable
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


async def render(conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, body: dict[str, Any], format_: str) -> bytes:
    """A report body rendered in a format, with its programme's name and suppression threshold, off the event loop.

    The one rendering of an export, whether the API does it (CSV, XLSX) or the worker (the PDF).
    """
    programme = await conn.fetchrow("SELECT name, suppress_below FROM programmes WHERE programme_id = $1", programme_id)
    if programme is None:
        raise LookupError("the programme of an export is gone")
    return await asyncio.to_thread(
        RENDERERS[format_], body, programme["name"], suppress_below=programme["suppress_below"]
    )


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
