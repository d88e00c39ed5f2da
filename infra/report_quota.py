"""The report quota: a token bucket per user and programme, kept in PostgreSQL, that every report request draws on.

A report, a dashboard or an export costs the database (and, rendered, the CPU)
far more than an ordinary read; one funder asked for 300 in three seconds. So
each such request takes a token from its caller's bucket; tokens come back at
``per_minute`` a minute up to ``burst``, and a request finding none is refused
with the seconds until the next one.

The bucket is a row of ``report_request_buckets``, taken and refilled in one
statement: the upsert locks the row, so concurrent requests of one user take
turns and never spend one token twice, and every API replica shares the one
bucket. Not Redis: it only wakes the worker and may be down, and a limit
that lapsed with it would be no limit.
"""

from __future__ import annotations

import math
import uuid

import msgspec

from infra.db import Connection


class ReportQuota(msgspec.Struct, frozen=True, kw_only=True):
    """How many report requests one user of one programme may make: a steady rate, and a burst above it."""

    per_minute: int
    burst: int

    @property
    def enabled(self) -> bool:
        """A rate or a burst of 0 turns the quota off."""
        return self.per_minute > 0 and self.burst > 0

    def describe(self) -> str:
        """The quota as a reader of a refusal needs it."""
        return (
            f"at most {self.per_minute} report requests a minute, in bursts of up to {self.burst}, "
            "for each user of a programme"
        )


class QuotaExceeded(Exception):
    """The caller's report quota is spent: a token comes back after ``retry_after`` seconds."""

    def __init__(self, quota: ReportQuota, retry_after: int) -> None:
        super().__init__(f"{quota.describe()}: retry after {retry_after} s")
        self.quota = quota
        self.retry_after = retry_after


# $1 programme, $2 user, $3 burst, $4 tokens a second. The bucket refills for the
# time since it was last touched, up to the burst; a request takes a token only
# when a whole one is there (so a refusal costs nothing). The second column reads
# the bucket as this statement's snapshot saw it, to say when the next token is due.
_TAKE = """
WITH taken AS (
    INSERT INTO report_request_buckets AS b (programme_id, user_id, tokens, refilled_at)
    VALUES ($1, $2, $3::double precision - 1, statement_timestamp())
    ON CONFLICT (programme_id, user_id) DO UPDATE
        SET tokens = least($3::double precision, b.tokens + $4::double precision
                     * greatest(0, extract(epoch FROM statement_timestamp() - b.refilled_at)::double precision)) - 1,
            refilled_at = greatest(b.refilled_at, statement_timestamp())
        WHERE least($3::double precision, b.tokens + $4::double precision
              * greatest(0, extract(epoch FROM statement_timestamp() - b.refilled_at)::double precision)) >= 1
    RETURNING tokens
)
SELECT (SELECT tokens FROM taken) AS left_over,
       (SELECT least($3::double precision, b.tokens + $4::double precision
               * greatest(0, extract(epoch FROM statement_timestamp() - b.refilled_at)::double precision))
          FROM report_request_buckets b WHERE b.programme_id = $1 AND b.user_id = $2) AS available
"""


async def take_report_token(conn: Connection, programme_id: uuid.UUID, user_id: uuid.UUID, quota: ReportQuota) -> None:
    """Take one token of this user's report quota, or raise ``QuotaExceeded`` saying when to ask again."""
    if not quota.enabled:
        return
    per_second = quota.per_minute / 60
    row = await conn.fetchrow(_TAKE, programme_id, user_id, quota.burst, per_second)
    assert row is not None
    if row["left_over"] is not None:
        return
    available = row["available"] if row["available"] is not None else 0.0
    raise QuotaExceeded(quota, retry_after=max(1, math.ceil((1 - available) / per_second)))
