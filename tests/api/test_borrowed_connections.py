"""A request gives back every pool connection it borrowed, also when a dependency of its route refuses it.

Litestar resolves a route's dependencies side by side and, when one fails, never closes those
that had yielded already: ``db`` kept its connection checked out until the garbage collector
found its generator, and the pool's ``close()`` (the API's shutdown) waited for it meanwhile
(``services.api.borrowed``).
"""

from __future__ import annotations

import gc

from litestar.testing import AsyncTestClient

from tests.support import Api


async def test_a_query_parameter_refused_by_a_dependency_leaves_no_connection_checked_out(
    client: AsyncTestClient,  # type: ignore[type-arg]
    api: Api,
) -> None:
    pool = client.app.state.pool
    try:
        for _ in range(3):
            # ``asked`` refuses the period after ``db`` has its connection (acting for the programme already).
            refused = await api.get("/v1/dashboards/response-rates?period=2025-H1")
            assert refused.status_code == 422, refused.text
            assert pool.get_idle_size() == pool.get_size()
        answered = await api.get("/v1/dashboards/response-rates")
        assert answered.status_code == 200, answered.text
        assert pool.get_idle_size() == pool.get_size()
    finally:
        # Should one be left (the failure above), its generator's finalizer gives it back: the app can shut down.
        gc.collect()
