"""The reports' shortcuts give what checking every record gives, on random histories with voids and late entries."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.reporting import facts as f
from domain.reporting.outcomes import outreach_since, outreach_since_by_record
from domain.reporting.scope import AsOf
from tests.unit.reporting.history import History, at, params

DAY0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


def _history(rng: random.Random) -> tuple[History, list[f.ParticipantFacts]]:
    """One participant's outreaches and responses (several per outreach, recorded out of order), some voided."""
    history = History()
    participant = history.enrol("2025-03-01")
    outreaches: list[tuple[object, dt.datetime]] = []
    job = None
    for _ in range(rng.randint(0, 25)):
        roll = rng.random()
        when = DAY0 + dt.timedelta(hours=rng.randint(0, 24 * 60))
        if roll < 0.45 or not outreaches:
            outreaches.append((history.outreach(participant, when), when))
        elif roll < 0.85:
            outreach, sent = rng.choice(outreaches)
            replied = sent + dt.timedelta(hours=rng.randint(0, 24 * 20))
            history.respond(participant, outreach, replied, rng.choice(["positive", "neutral"]))
        elif roll < 0.92 and job is None:
            job = history.hire(participant, "2025-03-10")
            history.void_in(participant, history.last_event, when)  # a void that is not about outreach
        else:
            voided = rng.choice(history.envelopes[1:])
            if voided.type in {"outreach_sent", "response_received"}:
                history.void_in(participant, voided.event_id, when)
    folded = history.facts()
    # The same records added in another order (as a cache refresh may), voids marked last.
    shuffled = f.Facts()
    records = [f.fact_from_event(envelope) for envelope in history.envelopes]
    plain = [record for record in records if record is not None and not isinstance(record, f.Void)]
    rng.shuffle(plain)
    for record in plain:
        f.add_record(shuffled, record)
    for record in records:
        if isinstance(record, f.Void):
            f.mark_void(shuffled, record)
    return history, [folded.participants[participant], shuffled.participants[participant]]


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), start_day=st.integers(-5, 70), as_of_day=st.integers(-5, 90), cut=st.floats(0, 1.2)
)
def test_outreach_counts_by_bisection_equal_counts_record_by_record(
    seed: int, start_day: int, as_of_day: int, cut: float
) -> None:
    rng = random.Random(seed)
    history, bundles = _history(rng)
    as_of = (DAY0 + dt.timedelta(days=as_of_day)).date().isoformat()
    position = max(1, int(history.position * cut))
    start = at((DAY0 + dt.timedelta(days=start_day)).date().isoformat(), "00:00:00")
    for as_of_position in (None, position):
        looking = AsOf(params("2025-01-01", as_of, as_of, as_of_position=as_of_position))
        for bundle in bundles:
            assert outreach_since(bundle, start, looking) == outreach_since_by_record(bundle, start, looking)
