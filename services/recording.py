"""Recording events: the one use case that loads streams, checks the rules and appends.

``Recorder.record`` is the generic *execute* of this codebase: load and fold
each stream named, check every new event against the rules (pure functions of
``domain.rules``), append with the expected versions, and retry on a lost race
when the client did not pin a version. A retried request (same ``event_id``s,
same content) answers as the first time and stores nothing.

A client that pinned no version (no ``If-Match``) asked for none, so it never
hears of a lost race: the recorder tries again, after a jittered backoff that
spreads the writers of a busy stream apart, until the request's deadline
(``retry_seconds``). Only past it does it give up, with ``StreamBusy`` (503:
send the same request again), never a conflict.

Personal fields (``domain.privacy``) are sealed under their subject's key
(``infra.crypto``) just before the append: the events stored hold no name,
e-mail address or phone number in plain text. The key of a person recorded
for the first time is made in one transaction with the append (appends
without personal fields need none: the store's append is one statement).
The folds, the state cache and the rules see those fields masked; only
readers open them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import msgspec

from domain.events import CREATION_EVENTS, Event, decode_data, encode_data, type_name
from domain.privacy import PERSONAL_FIELDS, masked, path_name, personal_values
from domain.rules import References, RuleViolation, check_append, lookups_for
from domain.streams import Entry, StreamState, evolve, initial_state, stream_id_of, stream_kind
from infra.accounts import counselors_among
from infra.crypto import DataKey, Subject, SubjectErased, SubjectKeys
from infra.db import Connection, tenant_connection
from infra.event_store import (
    AppendResult,
    ConcurrencyConflict,
    DuplicateEventId,
    EventStore,
    Metadata,
    NewEvent,
    RecordedEvent,
    StreamAppend,
)

# Backoff between attempts after a lost race: a random wait up to a cap that doubles from the first to the last
# (full jitter), so that writers of one stream who lost together do not collide again together.
_FIRST_BACKOFF_CAP = 0.005
_LAST_BACKOFF_CAP = 0.2


class IncomingEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event a client asks to record, already decoded; ``field`` prefixes its error paths."""

    stream_id: str
    event_id: uuid.UUID
    occurred_at: dt.datetime
    event: Event
    field: str = ""


class EventIdReused(Exception):
    """An ``event_id`` is stored already with other content (or the retry differs)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class VersionMismatch(Exception):
    """``If-Match`` named a version the stream is not at."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id} is at version {actual}, not {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class StreamBusy(Exception):
    """Appends to a stream kept losing the race for its next version until the request's deadline (HTTP 503)."""

    def __init__(self, stream_id: str, seconds: float) -> None:
        super().__init__(f"stream {stream_id} is too busy: it took no append within {seconds:g}s; send it again")
        self.stream_id = stream_id


class _LookAgain(Exception):
    """The first, cache-trusting attempt would refuse: decide again on fresh state."""


class RecordOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a request stored (or had stored the first time, for a replay)."""

    results: list[AppendResult]
    replayed: bool


def entry_of(recorded: RecordedEvent) -> Entry:
    """The domain view of a stored event, through the one decoder every reader shares (personal fields masked)."""
    return Entry(
        event_id=recorded.event_id,
        occurred_at=recorded.occurred_at,
        event=decode_data(recorded.type, masked(recorded.type, recorded.data)),
    )


def _masked_entry(entry: Entry) -> Entry:
    """``entry`` with its personal fields masked, as folded states keep it (no name stays in the cache)."""
    kind = type_name(entry.event)
    if kind not in PERSONAL_FIELDS:
        return entry
    data = masked(kind, msgspec.json.decode(encode_data(entry.event)))
    return Entry(event_id=entry.event_id, occurred_at=entry.occurred_at, event=decode_data(kind, data))


class _StateCache:
    """Folded stream states by (programme, stream), refreshed with only the events since."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._capacity = capacity
        self._states: OrderedDict[tuple[uuid.UUID, str], StreamState] = OrderedDict()

    def get(self, key: tuple[uuid.UUID, str]) -> StreamState | None:
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
        return state

    def put(self, key: tuple[uuid.UUID, str], state: StreamState) -> None:
        self._states[key] = state
        self._states.move_to_end(key)
        while len(self._states) > self._capacity:
            self._states.popitem(last=False)


class Recorder:
    """Checks and appends events for one programme at a time."""

    def __init__(
        self,
        store: EventStore,
        *,
        keys: SubjectKeys,
        after_commit: Callable[[uuid.UUID, list[AppendResult]], Awaitable[None]] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        retry_seconds: float = 5.0,
    ) -> None:
        self._store = store
        self._keys = keys
        self._after_commit = after_commit
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._retry_seconds = retry_seconds
        self._cache = _StateCache()

    @property
    def pool(self) -> asyncpg.Pool:
        """The pool the recorder appends through."""
        return self._store.pool

    async def record(
        self,
        programme_id: uuid.UUID,
        incoming: Sequence[IncomingEvent],
        metadata: Metadata,
        *,
        expected_versions: dict[str, int] | None = None,
    ) -> RecordOutcome:
        """Record every event of ``incoming`` or none; see the module docstring."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_seconds
        pinned = expected_versions or {}
        attempt = 0
        while True:
            try:
                # The first attempt trusts the cached stream states and asks about
                # replays only when something fails; a retry after a lost race
                # reads everything afresh.
                outcome = await self._attempt(programme_id, incoming, metadata, expected_versions, fresh=attempt > 0)
            except ConcurrencyConflict as conflict:
                if conflict.stream_id in pinned:
                    raise
                if loop.time() >= deadline:
                    raise StreamBusy(conflict.stream_id, self._retry_seconds) from conflict
                await _back_off(attempt, deadline)
            except _LookAgain:
                pass
            except DuplicateEventId:
                # A concurrent twin of this request won; the next attempt replays it.
                if loop.time() >= deadline:
                    raise
                await _back_off(attempt, deadline)
            else:
                if not outcome.replayed and self._after_commit is not None:
                    await self._after_commit(programme_id, outcome.results)
                return outcome
            attempt += 1

    async def _attempt(
        self,
        programme_id: uuid.UUID,
        incoming: Sequence[IncomingEvent],
        metadata: Metadata,
        expected_versions: dict[str, int] | None,
        *,
        fresh: bool,
    ) -> RecordOutcome:
        # One connection for the whole attempt, acting for the programme (row-level security).
        async with tenant_connection(self._store.pool, programme_id) as conn:
            if fresh:
                replay = await self._replay(conn, programme_id, incoming)
                if replay is not None:
                    return replay
            stream_ids = list(dict.fromkeys(item.stream_id for item in incoming))
            pinned = expected_versions or {}
            # A cached state at the version the client expects needs no refresh: if
            # another process moved the stream on, the append's unique key says so.
            states = await self._load(conn, programme_id, stream_ids, trust_cache=not fresh, expected=pinned)
            try:
                for stream_id, expected in pinned.items():
                    actual = states[stream_id].version if stream_id in states else 0
                    if expected != actual:
                        raise VersionMismatch(stream_id, expected, actual)
                refs = await self._references(conn, programme_id, incoming)
                loaded = dict(states)
                now = self._clock()
                for item in incoming:
                    entry = Entry(event_id=item.event_id, occurred_at=item.occurred_at, event=item.event)
                    try:
                        check_append(states[item.stream_id], entry, refs, now=now)
                    except RuleViolation as violation:
                        raise RuleViolation(_join(item.field, violation.field), violation.message) from None
                    states[item.stream_id] = evolve(states[item.stream_id], _masked_entry(entry))
            except (RuleViolation, VersionMismatch):
                # Before refusing, look again with nothing cached: another process may
                # have moved the stream on, and a retry of a request already recorded
                # breaks the rules against the state it made (answered as the first time).
                if not fresh:
                    raise _LookAgain() from None
                raise

            def appends(data_keys: dict[Subject, DataKey]) -> list[StreamAppend]:
                return [
                    StreamAppend(
                        stream_id=stream_id,
                        kind=loaded[stream_id].kind,
                        expected_version=loaded[stream_id].version,
                        events=[_new_event(i, data_keys) for i in by_stream[stream_id]],
                        removes_record=loaded[stream_id].exists and not states[stream_id].exists,
                    )
                    for stream_id in stream_ids
                ]

            by_stream: dict[str, list[IncomingEvent]] = {stream_id: [] for stream_id in stream_ids}
            for item in incoming:
                by_stream[item.stream_id].append(item)
            personal = _personal_fields(incoming)
            if personal:
                # A person's new key commits with, and only with, the events it first seals.
                async with conn.transaction():
                    data_keys = await self._data_keys(conn, programme_id, personal)
                    results = await self._store.append(conn, programme_id, appends(data_keys), metadata)
            else:
                results = await self._store.append(conn, programme_id, appends({}), metadata)
            for stream_id in stream_ids:
                self._cache.put((programme_id, stream_id), states[stream_id])
        return RecordOutcome(results=results, replayed=False)

    async def _data_keys(
        self, conn: Connection, programme_id: uuid.UUID, personal: dict[Subject, str]
    ) -> dict[Subject, DataKey]:
        """The keys of the subjects ``personal`` names (made for new ones); erased ones are refused."""
        try:
            return await self._keys.for_writing(conn, programme_id, personal)
        except SubjectErased as erased:
            raise RuleViolation(
                personal[erased.subject],
                f"this {erased.subject.kind}'s identity was erased: no name, e-mail address or phone number "
                "can be recorded for them any more",
            ) from None

    async def _replay(
        self, pool: Connection, programme_id: uuid.UUID, incoming: Sequence[IncomingEvent]
    ) -> RecordOutcome | None:
        """The first answer again when every event id is stored with the same content."""
        found = await self._store.find_events(pool, programme_id, [i.event_id for i in incoming])
        if not found:
            return None
        # Personal fields are compared opened: each was sealed with a nonce of its own.
        opened = await self._keys.open_events(pool, programme_id, found)
        stored = {e.event_id: e for e in opened.events}
        for item in incoming:
            previous = stored.get(item.event_id)
            if previous is None:
                raise EventIdReused(
                    _join(item.field, "event_id"),
                    "part of this request is already recorded and part is not: send the recorded events "
                    "and the new ones in separate requests",
                )
            if not same_content(previous, item, erased=Subject.of_stream(item.stream_id) in opened.erased):
                raise EventIdReused(
                    _join(item.field, "event_id"),
                    f"event {item.event_id} is already recorded with other content",
                )
        results: dict[str, AppendResult] = {}
        for item in incoming:
            event = stored[item.event_id]
            prior = results.get(item.stream_id)
            results[item.stream_id] = AppendResult(
                stream_id=item.stream_id,
                stream_version=max(event.stream_version, prior.stream_version if prior else 0),
                global_position=max(event.global_position, prior.global_position if prior else 0),
                event_ids=[*(prior.event_ids if prior else []), item.event_id],
            )
        return RecordOutcome(results=list(results.values()), replayed=True)

    async def _load(
        self,
        pool: Connection,
        programme_id: uuid.UUID,
        stream_ids: list[str],
        *,
        trust_cache: bool,
        expected: dict[str, int],
    ) -> dict[str, StreamState]:
        states: dict[str, StreamState] = {}
        cold: list[str] = []
        for stream_id in stream_ids:
            cached = self._cache.get((programme_id, stream_id))
            if cached is None:
                cold.append(stream_id)
                continue
            if trust_cache and expected.get(stream_id, cached.version) == cached.version:
                states[stream_id] = cached
                continue
            # The cache may be behind another process's appends: fold only what came since.
            for recorded in await self._store.read_stream_after(pool, programme_id, stream_id, cached.version):
                cached = evolve(cached, entry_of(recorded))
            states[stream_id] = cached
        if cold:
            for stream_id, events in (await self._store.read_streams(pool, programme_id, cold)).items():
                state = initial_state(stream_kind(stream_id))
                for recorded in events:
                    state = evolve(state, entry_of(recorded))
                states[stream_id] = state
        return states

    async def _references(
        self, pool: Connection, programme_id: uuid.UUID, incoming: Sequence[IncomingEvent]
    ) -> References:
        """The contacts, employers and counselors the new events name that exist in the programme."""
        contacts: set[uuid.UUID] = set()
        employers: set[uuid.UUID] = set()
        counselors: set[uuid.UUID] = set()
        created: dict[str, set[uuid.UUID]] = {"contact": set(), "employer": set()}
        for item in incoming:
            kind = stream_kind(item.stream_id)
            wanted = lookups_for(kind, Entry(event_id=item.event_id, occurred_at=item.occurred_at, event=item.event))
            contacts |= wanted.contacts
            employers |= wanted.employers
            counselors |= wanted.counselors
            # A record created earlier in the same request counts as existing for the rest of it.
            if kind in created and isinstance(item.event, CREATION_EVENTS[kind]):
                created[kind].add(uuid.UUID(item.stream_id.split("-", 1)[1]))
        wanted_streams = [stream_id_of("contact", c) for c in contacts] + [
            stream_id_of("employer", e) for e in employers
        ]
        existing = await self._store.existing_records(pool, programme_id, wanted_streams)
        return References(
            contacts=frozenset(c for c in contacts if stream_id_of("contact", c) in existing) | created["contact"],
            employers=frozenset(e for e in employers if stream_id_of("employer", e) in existing) | created["employer"],
            counselors=await counselors_among(pool, programme_id, counselors),
        )


async def _back_off(attempt: int, deadline: float) -> None:
    """Wait a random while before attempt ``attempt + 1`` (full jitter), never past ``deadline``."""
    cap = min(_LAST_BACKOFF_CAP, _FIRST_BACKOFF_CAP * 2 ** min(attempt, 16))
    left = deadline - asyncio.get_running_loop().time()
    await asyncio.sleep(max(0.0, min(random.uniform(0, cap), left)))  # noqa: S311 (spreading writers, not a secret)


def _personal_fields(incoming: Sequence[IncomingEvent]) -> dict[Subject, str]:
    """Each person whose personal fields ``incoming`` records, with the path of the first such field."""
    first_field: dict[Subject, str] = {}
    for item in incoming:
        kind = type_name(item.event)
        subject = Subject.of_stream(item.stream_id)
        if kind not in PERSONAL_FIELDS or subject is None:
            continue
        for path, _ in personal_values(kind, msgspec.to_builtins(item.event)):
            first_field.setdefault(subject, _join(item.field, f"data.{path_name(path)}"))
    return first_field


def _join(prefix: str, field: str) -> str:
    return f"{prefix}.{field}" if prefix else field


_SORTED = msgspec.json.Encoder(order="sorted")


def _new_event(item: IncomingEvent, data_keys: dict[Subject, DataKey]) -> NewEvent:
    """The event to store, its personal fields sealed under its subject's key."""
    kind = type_name(item.event)
    data = encode_data(item.event)
    if kind in PERSONAL_FIELDS:
        builtins = msgspec.json.decode(data)
        if any(personal_values(kind, builtins)):
            subject = Subject.of_stream(item.stream_id)
            key = None if subject is None else data_keys.get(subject)
            if key is None:  # never stored in plain text instead
                raise RuntimeError(f"no key to seal the personal fields of {item.stream_id}")
            data = _SORTED.encode(key.seal_data(kind, builtins))
    return NewEvent(event_id=item.event_id, type=kind, data=data, occurred_at=item.occurred_at)


def same_content(stored: RecordedEvent, item: IncomingEvent, *, erased: bool) -> bool:
    """Whether ``item`` is what ``stored`` (opened) records; an erased subject's personal fields cannot be told."""
    kind = type_name(item.event)
    sent = msgspec.json.decode(encode_data(item.event))
    return (
        stored.stream_id == item.stream_id
        and stored.type == kind
        and stored.occurred_at == item.occurred_at
        and (masked(kind, sent) == masked(kind, stored.data) if erased else sent == stored.data)
    )
