"""Demo and test programmes: valid event logs, a realistic demo programme, and seeding it through the Recorder.

Two generators share the log format (one dict a line: ``stream_id``, ``type``,
``event_id``, ``occurred_at``, ``data``):

- ``programme_log`` fuzzes: random but valid logs, voids and exits included,
  for property and load tests.
- ``demo_log`` tells stories: participants enrolled over 2025–2026 who note
  their People Links, reach out (some channels answer more often than
  others), follow up, apply, get hired, keep or lose their jobs, and exit, so
  that the dashboards of ``peoplelinks up`` show something worth looking at.

Both only ever produce what the append rules accept; ``record_log`` records a
log through ``Recorder.record``, one stream at a time.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import secrets
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import asyncpg
import msgspec

from domain.events import decode_data
from infra.accounts import Role, authenticate, create_programme, create_user, hash_password
from infra.event_store import Metadata
from services.recording import IncomingEvent, Recorder

LogLine = dict[str, Any]

CHANNELS = ("email", "phone", "text", "linkedin", "letter", "in_person")
PURPOSES = ("introduction", "ask_for_meeting", "ask_for_referral", "follow_up", "thank_you", "offer_help")
SOURCES = ("referral", "network_contact", "walk_in", "online_application", "staffing_agency", "job_developer", "other")
START = dt.datetime(2025, 1, 6, 9, tzinfo=dt.UTC)


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _at(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- the fuzzing generator (property and load tests) -----------------------------


def programme_log(
    rng: random.Random, counselor_ids: list[str], *, participants: int = 5, actions: int = 12, contacts: int = 4
) -> list[LogLine]:
    """A whole programme's log in append order, one dict a line: stream_id, type, event_id, occurred_at, data."""
    log: list[LogLine] = []

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


# --- the demo programme's stories -------------------------------------------------

DEMO_START: Final = dt.datetime(2025, 1, 6, 9, tzinfo=dt.UTC)

# fmt: off
# The demo's people are named from these two: a contact "First Last", a participant "First L." (public: the
# tests search every log line of a run for each such name, tests/log_watch.py).
FIRST_NAMES = (
    "Aaliyah", "Andre", "Angela", "Anthony", "Brandon", "Carlos", "Crystal", "Darnell", "DeShawn", "Diana",
    "Elena", "Eric", "Gabriel", "Isaiah", "Jamal", "Jasmine", "Jerome", "Jessica", "Jose", "Kevin",
    "Keisha", "Latoya", "Luis", "Malik", "Marcus", "Maria", "Michael", "Monique", "Nathan", "Nicole",
    "Omar", "Patricia", "Rafael", "Ray", "Rosa", "Samantha", "Terrell", "Tiffany", "Tyrone", "Vanessa",
)
LAST_NAMES = (
    "Adams", "Alvarez", "Baker", "Brooks", "Carter", "Castillo", "Coleman", "Davis", "Diaz", "Edwards",
    "Flores", "Foster", "Garcia", "Gray", "Green", "Harris", "Hayes", "Jackson", "Jenkins", "Johnson",
    "Kim", "Lee", "Lewis", "Lopez", "Martinez", "Mitchell", "Morales", "Nguyen", "Owens", "Patel",
    "Perez", "Reed", "Rivera", "Robinson", "Sanders", "Scott", "Thomas", "Turner", "Walker", "Washington",
)
_EMPLOYERS = (
    ("Riverside Logistics", "warehousing"), ("Northgate Kitchens", "food service"),
    ("Summit Builders", "construction"), ("Lakeview Auto Works", "automotive"),
    ("Harbor Freight Lines", "transportation"), ("Green Valley Grocers", "retail"),
    ("Metro Recycling Co.", "recycling"), ("Cornerstone Cafe", "food service"),
    ("Ironworks Fabrication", "manufacturing"), ("BrightPath Cleaning", "janitorial"),
    ("Union Street Bakery", "food service"), ("Keystone Landscaping", "landscaping"),
    ("Pioneer Packaging", "manufacturing"), ("Midtown Hotel Group", "hospitality"),
    ("Allied Moving & Storage", "transportation"), ("Second Chance Print Shop", "printing"),
    ("Westside Hardware", "retail"), ("Clearwater Plumbing", "trades"),
    ("Eastbank Distribution", "warehousing"), ("Oak & Anvil Furniture", "manufacturing"),
    ("City Parks Department", "public sector"), ("Goodwork Staffing", "staffing"),
    ("Prairie Wind Solar", "energy"), ("St. Vincent Food Bank", "non-profit"),
)
_CITIES = ("Springfield", "Riverton", "Fairview", "Lakeside", "Milltown")
_CONTACT_ROLES = ("Hiring Manager", "Shift Supervisor", "Recruiter", "Owner", "Operations Manager", "Foreman")
_TITLES = (
    "Warehouse Associate", "Line Cook", "Forklift Operator", "General Laborer", "Delivery Driver",
    "Prep Cook", "Custodian", "Machine Operator", "Landscaping Crew Member", "Mover", "Dishwasher",
    "Welder's Helper", "Stocker", "Production Worker",
)
_GENDERS = ("man", "woman", "non-binary")
_RACES = ("Black", "Hispanic or Latino", "White", "Asian", "American Indian", "Two or more races")

# Chance that one outreach on a channel gets an answer ("five out for one back" on average).
_ANSWER_RATE: Final = {
    "in_person": 0.55, "walk_in": 0.42, "phone": 0.34, "text": 0.3, "email": 0.19, "linkedin": 0.13, "letter": 0.1,
}
_CLOSENESS_FACTOR: Final = {"close": 1.6, "well": 1.3, "moderate": 1.0, "acquaintance": 0.75, None: 0.6}
_CHANNEL_WEIGHTS: Final = {
    "email": 34, "phone": 20, "text": 16, "linkedin": 14, "letter": 4, "in_person": 8, "walk_in": 4,
}
# fmt: on
# Order of channels to switch to after two unanswered attempts on one (reports.md, follow-up queue).
_SWITCH_ORDER: Final = ("email", "phone", "text", "letter", "in_person")


class _Directory:
    """The programme's shared employers and contacts."""

    def __init__(self) -> None:
        self.employers: list[tuple[str, str]] = []  # (employer_id, name)
        self.contacts: list[tuple[str, str | None]] = []  # (contact_id, employer_id)

    def contacts_at(self, employer_id: str) -> list[str]:
        return [contact for contact, employer in self.contacts if employer == employer_id]


class _Story:
    """One participant's events, gathered out of order and sorted by when they happened."""

    def __init__(self, rng: random.Random, stream: str) -> None:
        self.rng = rng
        self.stream = stream
        self.lines: list[tuple[dt.datetime, int, LogLine]] = []

    def add(self, when: dt.datetime, type_: str, data: dict[str, Any]) -> str:
        """Add an event that happened at ``when``; returns its event id."""
        event_id = _id(self.rng)
        line = {"stream_id": self.stream, "type": type_, "event_id": event_id, "occurred_at": _at(when), "data": data}
        self.lines.append((when, len(self.lines), line))
        return event_id

    def when(self, type_: str, key: str, value: str) -> dt.datetime:
        """When the event of this type whose ``data[key]`` is ``value`` happened."""
        return next(when for when, _, line in self.lines if line["type"] == type_ and line["data"][key] == value)

    def last_activity(self) -> dt.datetime:
        """The latest event that may not come after an exit."""
        return max(when for when, _, line in self.lines if line["type"] not in _ALLOWED_AFTER_EXIT)

    def sorted_until(self, until: dt.datetime) -> list[LogLine]:
        """The events in the order they happened, those after ``until`` left out."""
        # References only ever point back in time, and an exit comes after every
        # activity it forbids, so any cut by time leaves a valid log.
        return [line for when, _, line in sorted(self.lines, key=lambda item: item[:2]) if when <= until]


_ALLOWED_AFTER_EXIT: Final = frozenset({"employment_verified", "promoted", "job_ended", "hired", "entry_voided"})
_DAY: Final = dt.timedelta(days=1)


def _weighted(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _working_hours(rng: random.Random, day: dt.datetime) -> dt.datetime:
    """A moment of working hours on the first weekday on or after ``day``'s date."""
    moment = day.replace(
        hour=rng.randint(8, 17), minute=rng.choice((0, 10, 15, 20, 30, 40, 45, 50)), second=0, microsecond=0
    )
    while moment.weekday() >= 5:
        moment += _DAY
    return moment


def _line(rng: random.Random, stream: str, type_: str, when: dt.datetime, data: dict[str, Any]) -> LogLine:
    return {"stream_id": stream, "type": type_, "event_id": _id(rng), "occurred_at": _at(when), "data": data}


def demo_log(
    rng: random.Random,
    counselor_ids: Sequence[str],
    *,
    participants: int = 300,
    start: dt.datetime = DEMO_START,
    until: dt.datetime,
) -> list[LogLine]:
    """A realistic programme's log in append order: the directory first, then each participant's story.

    Participants enrol between ``start`` and two weeks before ``until``; nothing
    in the log happens after ``until`` (so give it a moment in the past).
    """
    log: list[LogLine] = []
    directory = _Directory()
    directory_day = start - 14 * _DAY
    for name, industry in rng.sample(_EMPLOYERS, k=min(len(_EMPLOYERS), max(4, participants // 10))):
        employer = _id(rng)
        directory.employers.append((employer, name))
        data: dict[str, Any] = {"name": name, "industry": industry, "city": rng.choice(_CITIES)}
        data["fair_chance"] = rng.random() < 0.6
        log.append(_line(rng, f"employer-{employer}", "employer_added", directory_day, data))
    for _ in range(max(12, participants // 2)):
        contact = _id(rng)
        data = {"name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"}
        employer_id: str | None = None
        if rng.random() < 0.75:
            employer_id, employer_name = rng.choice(directory.employers)
            data |= {"employer_id": employer_id, "organization": employer_name, "role": rng.choice(_CONTACT_ROLES)}
        else:
            data["role"] = rng.choice(("Mentor", "Pastor", "Former coworker", "Neighbour", "Union steward"))
        directory.contacts.append((contact, employer_id))
        log.append(_line(rng, f"contact-{contact}", "contact_added", directory_day, data))
    last_enrolment = until - 14 * _DAY
    span = max((last_enrolment - start).total_seconds(), 0.0)
    for _ in range(participants):
        enrolled_at = min(_working_hours(rng, start + dt.timedelta(seconds=rng.uniform(0, span))), last_enrolment)
        story = _Story(rng, f"participant-{_id(rng)}")
        _demo_participant(rng, story, list(counselor_ids), directory, enrolled_at)
        log += story.sorted_until(until)
    return log


def _demo_participant(
    rng: random.Random, story: _Story, counselors: list[str], directory: _Directory, enrolled_at: dt.datetime
) -> None:
    """Enrolment, People Links, outreach, applications; then a hire or an exit without one."""
    profile: dict[str, Any] = {
        "display_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)[0]}.",
        "age_band": _weighted(rng, {"18-24": 18, "25-34": 34, "35-44": 26, "45-54": 15, "55+": 7}),
        "gender": _weighted(rng, {"man": 70, "woman": 27, "non-binary": 3}),
        "race_ethnicity": rng.choice(_RACES),
        "veteran": rng.random() < 0.09,
        "release_date": (enrolled_at - rng.randint(5, 120) * _DAY).date().isoformat(),
    }
    story.add(
        enrolled_at,
        "participant_enrolled",
        {
            "enrolled_on": enrolled_at.date().isoformat(),
            "counselor_id": rng.choice(counselors),
            "cohort": f"{enrolled_at.year}-Q{(enrolled_at.month - 1) // 3 + 1}",
            "profile": profile,
        },
    )
    story.add(
        _working_hours(rng, enrolled_at + rng.randint(1, 6) * _DAY),
        "job_search_objective_set",
        {"target_titles": rng.sample(_TITLES, k=rng.randint(1, 3))},
    )
    # People Links: who the participant knows, noted in the first weeks.
    links: dict[str, str] = {}
    for contact, _ in rng.sample(directory.contacts, k=min(len(directory.contacts), rng.randint(3, 8))):
        closeness = _weighted(rng, {"close": 2, "well": 3, "moderate": 3, "acquaintance": 2})
        links[contact] = closeness
        how_known = _weighted(
            rng, {"family": 2, "friend": 3, "former_colleague": 3, "former_employer": 2, "mentor": 1, "event": 1}
        )
        story.add(
            _working_hours(rng, enrolled_at + rng.randint(1, 14) * _DAY),
            "relationship_noted",
            {"contact_id": contact, "closeness": closeness, "how_known": how_known},
        )
    hired = rng.random() < 0.62
    search_days = rng.randint(30, 150) if hired else rng.randint(20, 200)
    search_end = enrolled_at + search_days * _DAY
    search = _Search(rng, story, directory, links, search_end)
    threads = max(1, round(search_days / 7 * rng.uniform(0.5, 1.6)))
    for thread in range(threads):
        search.outreach_thread(enrolled_at + (2 + (search_days - 2) * thread / threads + rng.uniform(0, 4)) * _DAY)
    applications = search.applications(enrolled_at, search_days)
    hire: tuple[str, str] | None = None  # (application_id, employer_id) of the job
    if hired:
        # Referred applications are the likeliest to end in the job.
        before = [a for a in applications if a[2] < search_end - 7 * _DAY]
        referred = [a for a in before if any(a[1] == r[1] for r in search.referrals)]
        if before:
            chosen = rng.choice(referred) if referred and rng.random() < 0.7 else rng.choice(before)
            hire = (chosen[0], chosen[1])
    search.close_applications(applications, hire)
    if hired:
        _hire_and_keep(rng, story, directory, search, hire)
        return
    exit_at = _working_hours(rng, max(search_end, story.last_activity()) + rng.randint(3, 25) * _DAY)
    reason = _weighted(rng, {"disengaged": 9, "moved": 2, "completed": 3, "reincarcerated": 1, "other": 1})
    story.add(exit_at, "participant_exited", {"exited_on": exit_at.date().isoformat(), "reason": reason})


class _Search:
    """A participant's job search: outreach threads, referrals won, applications."""

    def __init__(
        self, rng: random.Random, story: _Story, directory: _Directory, links: dict[str, str], end: dt.datetime
    ) -> None:
        self.rng = rng
        self.story = story
        self.directory = directory
        self.links = links
        self.end = end
        self.asked: list[str] = []  # contacts asked for a meeting or a referral (to be told of a hire)
        self.referrals: list[tuple[str, str, str]] = []  # (referral_id, employer_id, contact_id)

    def send(
        self, contact: str, channel: str, purpose: str, around: dt.datetime, follow_up_of: str | None = None
    ) -> tuple[str, dt.datetime]:
        """An outreach sent in working hours on or after ``around``; returns its id and when it was sent."""
        rng = self.rng
        outreach, sent_at = _id(rng), _working_hours(rng, around)
        data = {"outreach_id": outreach, "contact_id": contact, "channel": channel, "purpose": purpose}
        if follow_up_of is not None:
            data["follow_up_of"] = follow_up_of
        self.story.add(sent_at, "outreach_sent", data)
        if rng.random() < 0.012:
            # Now and then the same outreach is entered twice and the copy voided.
            copy = self.story.add(sent_at, "outreach_sent", {**data, "outreach_id": _id(rng)})
            self.story.add(
                sent_at + dt.timedelta(minutes=rng.randint(5, 90)),
                "entry_voided",
                {"voided_event_id": copy, "reason": "entered twice"},
            )
        return outreach, sent_at

    def outreach_thread(self, around: dt.datetime) -> None:
        """One outreach to one contact and its follow-ups, until an answer or the participant gives up."""
        rng = self.rng
        if self.links and rng.random() < 0.65:
            contact = rng.choice(list(self.links))
        else:
            contact = rng.choice(self.directory.contacts)[0]
        weights = {
            "introduction": 5,
            "ask_for_meeting": 4,
            "ask_for_referral": 3,
            "progress_update": 2,
            "offer_help": 1,
        }
        purpose = _weighted(rng, weights)
        channel = _weighted(rng, _CHANNEL_WEIGHTS)
        used: dict[str, int] = {}
        previous: str | None = None
        for attempt in range(1, 7):
            if around >= self.end:
                return
            outreach, sent_at = self.send(contact, channel, purpose if attempt == 1 else "follow_up", around, previous)
            used[channel] = used.get(channel, 0) + 1
            if purpose in ("ask_for_meeting", "ask_for_referral") and contact not in self.asked:
                self.asked.append(contact)
            chance = _ANSWER_RATE[channel] * _CLOSENESS_FACTOR[self.links.get(contact)] * 0.9 ** (attempt - 1)
            if rng.random() < chance:
                answered_at = sent_at + dt.timedelta(minutes=round(rng.expovariate(1 / 3600)) + 60)
                outcome = _weighted(rng, {"positive": 11, "neutral": 6, "declined": 3})
                self.story.add(answered_at, "response_received", {"outreach_id": outreach, "outcome": outcome})
                if outcome == "positive":
                    self._after_positive(contact, purpose, answered_at)
                return
            if rng.random() > 0.7:
                return  # given up on this contact
            previous, around = outreach, sent_at + rng.randint(7, 12) * _DAY
            # Two attempts at one medium before switching (reports.md, follow-up queue).
            if used[channel] >= 2:
                unused = [c for c in _SWITCH_ORDER if used.get(c, 0) < 2]
                if not unused:
                    return
                channel = unused[0]

    def _after_positive(self, contact: str, purpose: str, answered_at: dt.datetime) -> None:
        rng = self.rng
        if purpose in ("ask_for_meeting", "introduction") or rng.random() < 0.3:
            kind = _weighted(rng, {"coffee": 4, "informational_interview": 3, "mentoring": 1, "networking_event": 1})
            self.story.add(
                _working_hours(rng, answered_at + rng.randint(2, 10) * _DAY),
                "meeting_held",
                {
                    "meeting_id": _id(rng),
                    "contact_id": contact,
                    "format": _weighted(rng, {"in_person": 5, "phone": 2, "video": 2}),
                    "kind": kind,
                    "duration_minutes": rng.choice((20, 30, 45, 60)),
                },
            )
        if purpose == "ask_for_referral" or rng.random() < 0.15:
            employer = next((e for c, e in self.directory.contacts if c == contact), None)
            employer = employer or rng.choice(self.directory.employers)[0]
            referral = _id(rng)
            self.story.add(
                _working_hours(rng, answered_at + rng.randint(1, 8) * _DAY),
                "referral_made",
                {
                    "referral_id": referral,
                    "contact_id": contact,
                    "employer_id": employer,
                    "position": rng.choice(_TITLES),
                },
            )
            self.referrals.append((referral, employer, contact))
            # Thanking the helper right away is part of the method.
            self.send(contact, "text", "thank_you", answered_at + rng.randint(1, 3) * _DAY)

    def applications(self, enrolled_at: dt.datetime, search_days: int) -> list[tuple[str, str, dt.datetime]]:
        """Applications, online mostly, and one for each referral won: (application_id, employer_id, when)."""
        rng = self.rng
        made: list[tuple[str, str, dt.datetime]] = []
        for _ in range(round(search_days / 12 * rng.uniform(0.3, 1.5))):
            when = _working_hours(rng, enrolled_at + rng.uniform(5, search_days) * _DAY)
            employer = rng.choice(self.directory.employers)[0]
            route = _weighted(rng, {"online": 6, "walk_in": 2, "staffing_agency": 1, "direct_contact": 1})
            made.append((self._apply(when, employer, route), employer, when))
        for referral, employer, _ in self.referrals:
            when = _working_hours(
                rng, self.story.when("referral_made", "referral_id", referral) + rng.randint(1, 7) * _DAY
            )
            made.append((self._apply(when, employer, "referral", referral), employer, when))
        return made

    def _apply(self, when: dt.datetime, employer: str, route: str, referral: str | None = None) -> str:
        application = _id(self.rng)
        data = {"application_id": application, "employer_id": employer, "position": self.rng.choice(_TITLES)}
        data["route"] = route
        if referral is not None:
            data["referral_id"] = referral
        self.story.add(when, "application_submitted", data)
        return application

    def close_applications(
        self, applications: list[tuple[str, str, dt.datetime]], hire: tuple[str, str] | None
    ) -> None:
        """Interviews and closings; a rejection is often answered with a thank-you to someone there."""
        rng = self.rng
        for application, employer, when in applications:
            if hire is not None and application == hire[0]:
                self.story.add(when + rng.randint(3, 6) * _DAY, "interview_held", {"application_id": application})
                continue
            if rng.random() < 0.25:
                interviewed = _working_hours(rng, when + rng.randint(3, 12) * _DAY)
                self.story.add(interviewed, "interview_held", {"application_id": application})
            closed_at = _working_hours(rng, when + rng.randint(10, 35) * _DAY)
            if closed_at > self.end:
                continue
            outcome = _weighted(rng, {"rejected": 10, "no_response": 8, "withdrawn": 1})
            self.story.add(closed_at, "application_closed", {"application_id": application, "outcome": outcome})
            helpers = self.directory.contacts_at(employer)
            if outcome == "rejected" and helpers and rng.random() < 0.5:
                self.send(rng.choice(helpers), "email", "thank_you", closed_at + rng.randint(1, 5) * _DAY)


def _hire_and_keep(
    rng: random.Random, story: _Story, directory: _Directory, search: _Search, hire: tuple[str, str] | None
) -> None:
    """The hire, telling the helpers, the exit, and what becomes of the job afterwards."""
    hired_at = _working_hours(rng, search.end)
    start = (hired_at + rng.randint(3, 14) * _DAY).date()
    job = _id(rng)
    data: dict[str, Any] = {
        "job_id": job,
        "title": rng.choice(_TITLES),
        "start_date": start.isoformat(),
        "hourly_wage": f"{rng.randint(15, 23)}.{rng.choice(('00', '25', '50', '75'))}",
        "hours_per_week": rng.choice((24, 30, 32, 36, 40, 40, 40)),
    }
    referral = next((r for r in search.referrals if hire is not None and r[1] == hire[1]), None)
    if hire is not None:
        data |= {"employer_id": hire[1], "application_id": hire[0]}
        data["source"] = "referral" if referral else _weighted(rng, {"online_application": 5, "walk_in": 1})
    else:
        data["employer_id"] = rng.choice(directory.employers)[0]
        data["source"] = _weighted(rng, {"network_contact": 4, "job_developer": 3, "staffing_agency": 2, "other": 1})
    if referral is not None:
        data["via_contact_id"] = referral[2]
    story.add(hired_at, "hired", data)
    for contact in search.asked:
        if rng.random() < 0.6:
            channel = rng.choice(("text", "email", "phone"))
            search.send(contact, channel, "notify_hired", hired_at + rng.randint(1, 10) * _DAY)
    exit_at = _working_hours(rng, max(story.last_activity(), hired_at) + rng.randint(20, 90) * _DAY)
    story.add(exit_at, "participant_exited", {"exited_on": exit_at.date().isoformat(), "reason": "employed"})
    # After the exit: retention checks, a promotion now and then, some jobs end.
    started = dt.datetime.combine(start, dt.time(10), tzinfo=dt.UTC)
    # A job found through someone who vouched for the participant lasts longer: the programme's premise,
    # which its reports are there to show (retention by source).
    if data["source"] == "referral":
        ends_after = rng.randint(100, 400) if rng.random() < 0.12 else None
    else:
        ends_after = rng.randint(15, 200) if rng.random() < 0.5 else None
    for milestone in (30, 90, 180):
        if ends_after is not None and ends_after < milestone:
            break
        checked = _working_hours(rng, started + (milestone + rng.randint(0, 10)) * _DAY)
        method = _weighted(rng, {"pay_stub": 4, "employer_contact": 3, "participant_report": 2})
        story.add(
            checked, "employment_verified", {"job_id": job, "verified_on": checked.date().isoformat(), "method": method}
        )
    if rng.random() < 0.15 and (ends_after is None or ends_after > 120):
        promoted = _working_hours(rng, started + rng.randint(90, 120) * _DAY)
        wage = float(data["hourly_wage"]) + rng.choice((1.0, 1.5, 2.0))
        promotion = {"job_id": job, "promoted_on": promoted.date().isoformat(), "new_title": f"Lead {data['title']}"}
        story.add(promoted, "promoted", {**promotion, "new_hourly_wage": f"{wage:.2f}"})
    if ends_after is not None:
        ended = _working_hours(rng, started + ends_after * _DAY)
        reason = _weighted(rng, {"quit": 3, "fired": 2, "laid_off": 2, "contract_ended": 1, "moved_to_better_job": 2})
        story.add(ended, "job_ended", {"job_id": job, "ended_on": ended.date().isoformat(), "reason": reason})


# --- recording a log ----------------------------------------------------------------


def incoming_event(line: LogLine) -> IncomingEvent:
    """One log line as the Recorder takes it."""
    return IncomingEvent(
        stream_id=line["stream_id"],
        event_id=uuid.UUID(line["event_id"]),
        occurred_at=dt.datetime.fromisoformat(line["occurred_at"]),
        event=decode_data(line["type"], line["data"]),
    )


async def record_log(
    recorder: Recorder,
    programme_id: uuid.UUID,
    log: Sequence[LogLine],
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Record a log through the Recorder, one stream a request as a counselor would; returns the events stored.

    Each participant's events are recorded as their counselor (the actor of the
    metadata). A stream recorded already (the same event ids and content) is
    answered as a replay and stores nothing: recording a log again is safe.
    ``progress`` is told how many of the log's events each stream took.
    """
    by_stream: dict[str, list[LogLine]] = {}
    for line in log:
        by_stream.setdefault(line["stream_id"], []).append(line)
    done = 0
    for stream_id, lines in by_stream.items():
        opening = lines[0]["data"]
        actor = uuid.UUID(opening["counselor_id"]) if "counselor_id" in opening else None
        outcome = await recorder.record(
            programme_id,
            [incoming_event(line) for line in lines],
            Metadata(programme_id=programme_id, actor_id=actor, correlation_id=uuid.uuid4()),
            expected_versions={stream_id: 0},
        )
        done += 0 if outcome.replayed else len(lines)
        if progress is not None:
            progress(len(lines))  # events of the log gone through, stored or replayed
    return done


# --- the demo programme and its users ----------------------------------------------

DEMO_PROGRAMME: Final = "Demo Reentry Programme"
DEMO_USERS: Final[tuple[tuple[Role, str], ...]] = (
    ("admin", "admin@demo.peoplelinks.test"),
    ("staff", "staff@demo.peoplelinks.test"),
    ("counselor", "counselor1@demo.peoplelinks.test"),
    ("counselor", "counselor2@demo.peoplelinks.test"),
    ("funder", "funder@demo.peoplelinks.test"),
)


class DemoLogin(msgspec.Struct, frozen=True):
    """One demo user's login."""

    role: str
    email: str


class DemoCredentials(msgspec.Struct, frozen=True):
    """What ``demo-credentials.json`` holds: one password shared by every demo user."""

    programme: str
    password: str
    logins: list[DemoLogin]


def load_or_create_credentials(path: Path) -> DemoCredentials:
    """The demo credentials stored at ``path``, made (with a random password, mode 0600) the first time."""
    if path.exists():
        return msgspec.json.decode(path.read_bytes(), type=DemoCredentials)
    credentials = DemoCredentials(
        programme=DEMO_PROGRAMME,
        password=secrets.token_urlsafe(12),
        logins=[DemoLogin(role=role, email=email) for role, email in DEMO_USERS],
    )
    write_private(path, msgspec.json.format(msgspec.json.encode(credentials)).decode() + "\n")
    return credentials


def write_private(path: Path, text: str) -> None:
    """Create a file only its owner may read: mode 0600 from the start, never readable by others in between."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


class DemoProgramme(msgspec.Struct, frozen=True, kw_only=True):
    """The demo programme's id and its users' ids by e-mail."""

    programme_id: uuid.UUID
    user_ids: dict[str, uuid.UUID]

    def ids_of(self, role: str) -> list[uuid.UUID]:
        """The ids of the demo users with this role."""
        return [self.user_ids[email] for r, email in DEMO_USERS if r == role]


async def ensure_demo_programme(conn: asyncpg.Connection, credentials: DemoCredentials) -> DemoProgramme:
    """The demo programme and its users, created when missing; their password made the stored one.

    When the users exist with another password (a new data directory against a
    database that already holds the demo) their password is reset, so that the
    printed logins always work.
    """
    admin_email = DEMO_USERS[0][1]
    programme_id = await conn.fetchval("SELECT programme_id FROM users WHERE email = $1", admin_email)
    if programme_id is None:
        programme_id, _ = await create_programme(
            conn, name=DEMO_PROGRAMME, admin_email=admin_email, admin_password=credentials.password
        )
    elif await authenticate(conn, admin_email, credentials.password) is None:
        await conn.execute(
            "UPDATE users SET password_hash = $1 WHERE programme_id = $2 AND email = ANY($3::text[])",
            await hash_password(credentials.password),
            programme_id,
            [email for _, email in DEMO_USERS],
        )
    rows = await conn.fetch("SELECT email, user_id FROM users WHERE programme_id = $1", programme_id)
    user_ids: dict[str, uuid.UUID] = {row["email"]: row["user_id"] for row in rows}
    for role, email in DEMO_USERS:
        if email not in user_ids:
            user_ids[email] = await create_user(
                conn, programme_id=programme_id, email=email, role=role, password=credentials.password
            )
    return DemoProgramme(programme_id=programme_id, user_ids=user_ids)


class DemoRecording(msgspec.Struct, frozen=True, kw_only=True):
    """Which demo is (being) recorded: with the same programme, size and end, ``demo_log`` makes the same log."""

    programme_id: uuid.UUID
    participants: int
    until: dt.datetime
    complete: bool = False

    @classmethod
    def load(cls, path: Path) -> DemoRecording | None:
        """The recording noted at ``path``, if any."""
        try:
            return msgspec.json.decode(path.read_bytes(), type=cls)
        except (OSError, msgspec.DecodeError):
            return None

    def save(self, path: Path) -> None:
        """Note this recording at ``path`` (replacing the file in one step)."""
        partial = path.with_suffix(".partial")
        partial.write_bytes(msgspec.json.format(msgspec.json.encode(self)) + b"\n")
        partial.replace(path)


async def is_seeded(conn: asyncpg.Connection | asyncpg.Pool, programme_id: uuid.UUID) -> bool:
    """Whether the programme holds any participant already (then the demo is not recorded again)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM streams WHERE programme_id = $1 AND kind = 'participant')", programme_id
        )
    )
