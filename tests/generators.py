"""Random but valid programmes: event logs that pass every append rule, for property and load tests."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

CHANNELS = ("email", "phone", "text", "linkedin", "letter", "in_person")
PURPOSES = ("introduction", "ask_for_meeting", "ask_for_referral", "follow_up", "thank_you", "offer_help")
SOURCES = ("referral", "network_contact", "walk_in", "online_application", "staffing_agency", "job_developer", "other")
START = dt.datetime(2025, 1, 6, 9, tzinfo=dt.UTC)


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _at(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def programme_log(
    rng: random.Random, counselor_ids: list[str], *, participants: int = 5, actions: int = 12, contacts: int = 4
) -> list[dict[str, Any]]:
    """A whole programme's log in append order, one dict a line: stream_id, type, event_id, occurred_at, data."""
    log: list[dict[str, Any]] = []

    def add(stream: str, type_: str, when: dt.datetime, data: dict[str, Any]) -> str:
        event_id = _id(rng)
        log.append({"stream_id": stream, "type": type_, "event_id": event_id, "occurred_at": _at(when), "data": data})
        return event_id

    employers = [_id(rng) for _ in range(2)]
    for employer in employers:
        add(f"employer-{employer}", "employer_added", START, {"name": "Employer", "fair_chance": rng.random() < 0.5})
    contact_ids = [_id(rng) for _ in range(contacts)]
    for contact in contact_ids:
        add(f"contact-{contact}", "contact_added", START, {"name": "Contact", "employer_id": rng.choice(employers)})
    for _ in range(participants):
        _participant(rng, add, counselor_ids, contact_ids, employers, actions)
    return log


def _participant(
    rng: random.Random, add: Any, counselors: list[str], contacts: list[str], employers: list[str], actions: int
) -> None:
    pid = _id(rng)
    stream = f"participant-{pid}"
    now = START + dt.timedelta(days=rng.randint(0, 200), hours=rng.randint(0, 8))
    add(
        stream,
        "participant_enrolled",
        now,
        {
            "enrolled_on": now.date().isoformat(),
            "counselor_id": rng.choice(counselors),
            "cohort": rng.choice(["spring", "autumn"]),
            "profile": {
                "display_name": "Person",
                "age_band": rng.choice(["18-24", "25-34", "35-44"]),
                "veteran": rng.random() < 0.2,
            },
        },
    )
    outreaches: list[tuple[str, str, str]] = []  # (outreach_id, event_id, contact)
    referrals: list[str] = []
    jobs: list[tuple[str, dt.date, str]] = []  # (job_id, start_date, event_id)
    voidable: list[str] = []
    exited = False
    for _ in range(rng.randint(0, actions)):
        now += dt.timedelta(days=rng.randint(0, 12), hours=rng.randint(0, 20))
        roll = rng.random()
        if exited:
            if jobs and roll < 0.5:
                job, start, _ = rng.choice(jobs)
                add(
                    stream,
                    "employment_verified",
                    now,
                    {"job_id": job, "verified_on": max(now.date(), start).isoformat(), "method": "pay_stub"},
                )
            continue
        if roll < 0.35 or not outreaches:
            contact = rng.choice(contacts)
            data: dict[str, Any] = {
                "outreach_id": _id(rng),
                "contact_id": contact,
                "channel": rng.choice(CHANNELS),
                "purpose": rng.choice(PURPOSES),
            }
            if outreaches and rng.random() < 0.4:
                data["follow_up_of"] = rng.choice(outreaches)[0]
            event_id = add(stream, "outreach_sent", now, data)
            outreaches.append((data["outreach_id"], event_id, contact))
            voidable.append(event_id)
        elif roll < 0.55:
            outreach, _, _ = rng.choice(outreaches)
            voidable.append(
                add(
                    stream,
                    "response_received",
                    now,
                    {"outreach_id": outreach, "outcome": rng.choice(["positive", "neutral", "declined"])},
                )
            )
        elif roll < 0.62:
            voidable.append(
                add(
                    stream,
                    "meeting_held",
                    now,
                    {
                        "meeting_id": _id(rng),
                        "contact_id": rng.choice(contacts),
                        "format": "in_person",
                        "kind": "coffee",
                    },
                )
            )
        elif roll < 0.70:
            referral = _id(rng)
            add(
                stream,
                "referral_made",
                now,
                {"referral_id": referral, "contact_id": rng.choice(contacts), "employer_id": rng.choice(employers)},
            )
            referrals.append(referral)
        elif roll < 0.82:
            start = now.date() + dt.timedelta(days=rng.randint(0, 10))
            job = _id(rng)
            data = {
                "job_id": job,
                "employer_id": rng.choice(employers),
                "title": "Cook",
                "start_date": start.isoformat(),
                "source": rng.choice(SOURCES),
            }
            if rng.random() < 0.5:
                data["hourly_wage"] = f"{rng.randint(15, 25)}.{rng.choice(['00', '50'])}"
            if rng.random() < 0.3:
                data["via_contact_id"] = rng.choice(contacts)
            event_id = add(stream, "hired", now, data)
            voidable.append(event_id)
            jobs.append((job, start, event_id))
        elif roll < 0.88 and jobs:
            job, start, _ = rng.choice(jobs)
            add(
                stream,
                "employment_verified",
                now,
                {
                    "job_id": job,
                    "verified_on": max(now.date(), start).isoformat(),
                    "method": rng.choice(["pay_stub", "employer_contact"]),
                },
            )
        elif roll < 0.92 and voidable:
            target = voidable.pop(rng.randrange(len(voidable)))
            add(stream, "entry_voided", now, {"voided_event_id": target, "reason": "entered by mistake"})
            # What it created no longer exists: stop referring to it.
            outreaches = [o for o in outreaches if o[1] != target]
            jobs = [j for j in jobs if j[2] != target]
        elif roll < 0.95:
            add(
                stream,
                "participant_exited",
                now,
                {
                    "exited_on": now.date().isoformat(),
                    "reason": rng.choice(["employed", "completed", "reincarcerated"]),
                },
            )
            exited = True
