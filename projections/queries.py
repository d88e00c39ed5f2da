"""SQL kept in ``.sql`` files beside the module that runs it, read once into a dict of named queries.

A query is its file's name without ``.sql``. A file whose name starts with ``_``
is a fragment that several queries share (a list of CTEs, say); a query includes
one by naming it in braces on a line of its own, ``{participants_as_of}`` (a comma may follow). The
text is put in when the files are read, never at a call: no value ever reaches
SQL except as a ``$n`` parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Final

import asyncpg

from infra.db import Connection

PLAN_EACH_CALL: Final = "SET LOCAL plan_cache_mode = force_custom_plan"
"""Every statement of the transaction planned for its own arguments (see ``fetch_planned_per_call``)."""

_INCLUDE = re.compile(r"^[ \t]*\{([a-z_]+)\}(,?)[ \t]*$", re.M)


def read_fragment(folder: str, name: str) -> str:
    """The fragment ``projections/<folder>/_<name>.sql``."""
    return (resources.files("projections") / folder / f"_{name}.sql").read_text(encoding="utf-8").strip()


def include(sql: str, fragments: Mapping[str, str], where: str) -> str:
    """``sql`` with each fragment it names on a line of its own put in; ``where`` names it in the error."""

    def put_in(match: re.Match[str]) -> str:
        fragment = fragments.get(match.group(1))
        if fragment is None:
            raise LookupError(f"{where} includes {match.group(0).strip()}, which is not given")
        return fragment + match.group(2)

    return _INCLUDE.sub(put_in, sql)


def load_queries(folder: str, fragments: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """Every query of ``projections/<folder>/*.sql``, by name, with the fragments it includes put in."""
    shared = fragments or {}
    queries: dict[str, str] = {}
    for entry in (resources.files("projections") / folder).iterdir():
        if not entry.name.endswith(".sql") or entry.name.startswith("_"):
            continue
        text = entry.read_text(encoding="utf-8")
        queries[entry.name.removesuffix(".sql")] = include(text, shared, f"{folder}/{entry.name}")
    return MappingProxyType(queries)


async def fetch_planned_per_call(conn: Connection, sql: str, *args: object) -> list[asyncpg.Record]:
    """``conn.fetch(sql, *args)`` planned for this call's own arguments, and without JIT.

    asyncpg prepares a statement once per connection, and PostgreSQL plans a prepared
    statement generically from its sixth execution on. A report's generic plan cannot
    see that ``position <= P`` keeps every row and expects one row per step: the
    response-rate dashboard's took over 30 s (the statement timeout) where its custom
    plan takes a tenth of a second, from the sixth dashboard a pooled connection served.
    JIT's compilation costs more than these queries' whole run. A report sorts and hashes a
    programme's outreach (400,000 rows for a year at 1M events): with the default 4 MB of
    ``work_mem`` the sorts spilled to disk, so the statement may take 64 MB. ``SET LOCAL``
    ends with the transaction, so the connection goes back to the pool as it came.
    """
    async with conn.transaction():
        await conn.execute(f"{PLAN_EACH_CALL}; SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
        return await conn.fetch(sql, *args)
