"""The garbage collector of a long-running service process (the API's, the worker's), set once it is built."""

from __future__ import annotations

import gc
from typing import Final

THRESHOLDS: Final = (50_000, 20, 100)
"""``gc.set_threshold`` of a service process, against CPython's (700, 10, 10).

A batch of 1,000 events builds some 50,000 objects that live as long as its
request, and the recorder keeps the streams' folded states between requests. With
the defaults the collector ran ~5,400 young and 20 full collections while the API
took 200,000 events in batches of 1,000, and they cost 7.7 s of its 18 s of CPU;
with these, 0.5 s (bench/RESULTS.md, "Single-event POSTs with wrk"). Cyclic garbage
waits longer to be freed (a young collection every 50,000 allocations net of frees,
a full one a hundred times rarer than young ones of the middle generation); the
requests' objects are freed by reference counting as they end, cycles or not aside.
"""


def settle() -> None:
    """Call once the process has built what it keeps for its life, before it serves.

    What exists then (modules, routes, schemas: about 100,000 objects in the API)
    is moved out of the collector's view (``gc.freeze``), so that no collection walks
    it again: measured on a counselor's follow-up queue at 1M events, full
    collections over it were the requests that took 45–60 ms instead of 14. Then
    collections are spaced for a server's rate of allocation (``THRESHOLDS``).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
