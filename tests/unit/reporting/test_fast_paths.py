"""The reports' shortcuts give what checking every record gives, on random histories with voids and late entries."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.reporting import facts as f
from domain.reporting.outcomes import outreach_since, outreach_since_by_record, participant_outcomes
from domain.reporting.response_rates import GROUP_BYS, response_rates
from domain.reporting.scope import AsOf
from domain.reporting.snapshot import jobs_as_of, people_link_count, people_links_since
from tests.unit.reporting.history import COUNSELOR, OTHER_COUNSELOR, History, at, params

DAY0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


def _report_positions(history: History, cut: float) -> list[dict[str, int | None]]:
    """No limit, a position, a horizon, and both (events carry shuffled transaction ids)."""
    cut_at = max(1, int(history.position * cut))
    return [
        {"as_of_position": position, "as_of_horizon": horizon}
        for position in (None, cut_at)
        for horizon in (None, len(history.envelopes) + 1 - cut_at)
    ]


def _history(rng: random.Random) -> tuple[History, list[f.ParticipantFacts]]:
    """One participant's outreaches and responses (several per outreach, recorded out of order), some voided."""
    history = History()
    participant = history.enrol("2025-03-01")
    outreaches: list[tuple[uuid.UUID, dt.datetime]] = []
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
    history.commit_out_of_order(rng)
    folded = history.facts()
    # The same records added in another order (as a cache refresh may), voids marked last.
    shuffled = f.Facts()
    records = [f.fact_from_event(envelope) for envelope in history.envelopes]
    plain: list[f.FactRecord] = [record for record in records if record is not None and not isinstance(record, f.Void)]
    rng.shuffle(plain)
    for one in plain:
        f.add_record(shuffled, one)
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
    start = at((DAY0 + dt.timedelta(days=start_day)).date().isoformat(), "00:00:00")
    for report_position in _report_positions(history, cut):
        looking = AsOf(params("2025-01-01", as_of, as_of, **report_position))
        for bundle in bundles:
            assert outreach_since(bundle, start, looking) == outreach_since_by_record(bundle, start, looking)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), as_of_day=st.integers(-5, 90), cut=st.floats(0, 1.2))
def test_people_link_count_equals_the_links_with_their_days(seed: int, as_of_day: int, cut: float) -> None:
    rng = random.Random(seed)
    history = History()
    participant = history.enrol("2025-03-01")
    contacts = [history.add_contact(DAY0 - dt.timedelta(days=rng.randint(-10, 10))) for _ in range(4)]
    contact_events = {contact: history.last_event for contact in contacts}
    referrals: list[uuid.UUID] = []

    def when() -> dt.datetime:
        return DAY0 + dt.timedelta(hours=rng.randint(0, 24 * 60))

    for _ in range(rng.randint(0, 12)):
        roll = rng.random()
        if roll < 0.3:
            referrals.append(history.refer(participant, rng.choice(contacts), when()))
        elif roll < 0.6:
            history.apply_for(participant, when(), referral=rng.choice([None, *referrals]))
        elif roll < 0.8:
            start = (DAY0 + dt.timedelta(days=rng.randint(0, 60))).date().isoformat()
            history.hire(participant, start, occurred_at=when(), via=rng.choice([None, *contacts]))
        elif roll < 0.9:
            contact = rng.choice(contacts)
            history.void(f"contact-{contact}", contact_events[contact], when())
        elif len(history.envelopes) > 1:
            voided = rng.choice(history.envelopes[1:])
            if voided.stream_id.startswith("participant-") and voided.type != "entry_voided":
                history.void_in(participant, voided.event_id, when())
    history.commit_out_of_order(rng)
    facts = history.facts()
    bundle = facts.participants[participant]
    as_of_date = (DAY0 + dt.timedelta(days=as_of_day)).date().isoformat()
    for report_position in _report_positions(history, cut):
        looking = AsOf(params("2025-01-01", as_of_date, as_of_date, **report_position))
        jobs = jobs_as_of(bundle, looking)
        assert people_link_count(bundle, jobs, facts.contacts, looking) == len(
            people_links_since(bundle, jobs, facts.contacts, looking)
        )


def _programme(rng: random.Random) -> History:
    """A few participants (two cohorts, two counselors) with threads of follow-ups, answers and voids."""
    history = History()
    for n in range(3):
        participant = history.enrol(
            "2025-03-01", cohort=("day", "night")[n % 2], counselor=(COUNSELOR, OTHER_COUNSELOR)[n % 2]
        )
        sent: list[tuple[uuid.UUID, dt.datetime]] = []
        for _ in range(rng.randint(0, 20)):
            roll = rng.random()
            when = DAY0 + dt.timedelta(hours=rng.randint(-24 * 20, 24 * 90))  # some before the enrolment
            if roll < 0.45 or not sent:
                # Mostly a thread in time order; sometimes a follow-up dated before what it follows up (a late entry).
                earlier = [outreach for outreach, at in sent if at <= when or rng.random() < 0.2]
                parent = rng.choice([None, *earlier])
                channel = rng.choice(["email", "phone", "text"])
                sent.append((history.outreach(participant, when, channel=channel, follow_up_of=parent), when))
            elif roll < 0.85:
                outreach, at = rng.choice(sent)
                history.respond(
                    participant,
                    outreach,
                    at + dt.timedelta(hours=rng.randint(0, 24 * 30)),
                    rng.choice(["positive", "neutral"]),
                )
            else:
                voided = rng.choice(history.envelopes)
                if voided.stream_id == f"participant-{participant}" and voided.type in {
                    "outreach_sent",
                    "response_received",
                }:
                    history.void_in(participant, voided.event_id, when)
    history.commit_out_of_order(rng)
    return history


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    from_day=st.integers(-5, 80),
    length=st.integers(0, 60),
    late=st.integers(0, 40),
    cut=st.floats(0, 1.2),
)
def test_response_rates_from_the_index_equal_response_rates_record_by_record(
    seed: int, from_day: int, length: int, late: int, cut: float
) -> None:
    history = _programme(random.Random(seed))
    facts = history.facts()
    first = (DAY0 + dt.timedelta(days=from_day)).date()
    last = first + dt.timedelta(days=length)
    for report_position in _report_positions(history, cut):
        report = params(
            first.isoformat(), last.isoformat(), (last + dt.timedelta(days=late)).isoformat(), **report_position
        )
        for group_by in (None, *GROUP_BYS):
            assert response_rates(facts, report, group_by) == response_rates(facts, report, group_by, indexed=False)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_outcomes_kept_per_participant_equal_outcomes_computed_afresh_as_records_arrive(seed: int) -> None:
    """Reports asked again and again (a few as_of days, positions, periods) while events keep arriving."""
    rng = random.Random(seed)
    history = _programme(rng)
    contact = history.add_contact(DAY0)
    people = [
        envelope.stream_id.split("-", 1)[1] for envelope in history.envelopes if envelope.type == "participant_enrolled"
    ]
    for person in people:
        history.hire(
            uuid.UUID(person), "2025-03-20", occurred_at=DAY0 + dt.timedelta(days=rng.randint(0, 60)), via=contact
        )
    if rng.random() < 0.5:
        history.void(f"contact-{contact}", history.envelopes[-len(people) - 1].event_id, DAY0 + dt.timedelta(days=30))
    history.commit_out_of_order(rng)
    days = [(DAY0 + dt.timedelta(days=n)).date().isoformat() for n in (10, 40, 200)]
    folded = f.Facts()
    for step, envelope in enumerate(history.envelopes, start=1):
        f.apply(folded, envelope)
        if rng.random() < 0.3 or step == len(history.envelopes):
            horizons = [None, rng.randint(1, len(history.envelopes) + 1)]
            positions = [(p, h) for p in (None, step, max(1, step - 3), max(1, step - 8)) for h in horizons]
            rng.shuffle(positions)
            for position, horizon in positions:  # the same records, seen from several positions in turn
                as_of = rng.choice(days)
                report = params(
                    rng.choice(["2025-02-15", "2025-03-01"]),
                    as_of,
                    as_of,
                    as_of_position=position,
                    as_of_horizon=horizon,
                )
                assert participant_outcomes(folded, report) == participant_outcomes(folded, report, memo=False)
