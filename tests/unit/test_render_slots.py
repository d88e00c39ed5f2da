"""Render slots: at most so many export renders at once in one process, each in a thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from infra.export_jobs import RendersBusy, RenderSlots


async def _render(slots: RenderSlots, renderer: Callable[..., bytes], *args: Any) -> bytes:
    async with slots.taken() as slot:
        return await slot.render(renderer, *args)


def _rendering(seconds: float, running: list[int], peak: list[int], lock: threading.Lock) -> bytes:
    with lock:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
    time.sleep(seconds)
    with lock:
        running[0] -= 1
    return b"file"


def _held_until(release: threading.Event) -> bytes:
    """A render that lasts until the test lets it end."""
    release.wait()
    return b"held"


def _quick() -> bytes:
    return b"quick"


async def test_no_more_renders_run_at_once_than_there_are_slots() -> None:
    slots = RenderSlots(2, wait=10)
    running, peak, lock = [0], [0], threading.Lock()
    files = await asyncio.gather(*(_render(slots, _rendering, 0.05, running, peak, lock) for _ in range(8)))
    assert files == [b"file"] * 8
    assert peak[0] == 2


async def test_an_export_that_finds_no_slot_in_time_is_busy() -> None:
    slots = RenderSlots(1, wait=0.05)
    release = threading.Event()
    holding = asyncio.create_task(_render(slots, _held_until, release))
    await asyncio.sleep(0)
    with pytest.raises(RendersBusy) as busy:
        await _render(slots, _quick)
    assert busy.value.retry_after == 1
    release.set()
    assert await holding == b"held"
    assert await _render(slots, _quick) == b"quick"


async def test_a_cancelled_request_holds_its_slot_until_its_thread_ends() -> None:
    """The thread cannot be stopped and still takes its share of the interpreter, so its slot stays taken."""
    slots = RenderSlots(1, wait=0)
    release = threading.Event()
    first = asyncio.create_task(_render(slots, _held_until, release))
    await asyncio.sleep(0.01)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    with pytest.raises(RendersBusy):
        await _render(slots, _quick)
    release.set()
    slots.wait = 5
    assert await _render(slots, _quick) == b"quick"
