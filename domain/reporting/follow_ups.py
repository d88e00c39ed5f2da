"""The follow-up queue: what a counselor should do next, as of a day.

Items, per ``reports.md``:

- ``follow_up``: an outreach with no response, not followed up, sent at least
  ``follow_up_after_days`` before ``as_of``; with the channel to use next ("two
  attempts at one medium before switching"). ``exhausted`` replaces it when the
  thread (the outreach and the ones it follows up) holds six unanswered attempts.
- ``thank_you_after_rejection``: a rejection with no thank-you to a contact of that
  employer within the 7 days after it.
- ``notify_helpers_of_hire``: after the participant's latest hire, each contact asked
  for a meeting or a referral before it and not told of it (``notify_hired``) since;
  one item per contact.
- ``nurture``: a People Link whose latest outreach or meeting (or none ever) is 60 or
  more days before ``as_of``, however recently it became a People Link.
- ``retention_check_due``: a job not ended whose next milestone (30, 90, 180 days
  after its start) has passed with no verification on or after it.

After a participant's exit only ``retention_check_due`` items remain: the append
rules refuse outreach after an exit, so the other items could never be cleared,
while verifying employment after exit is how retention is measured.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Final, Literal, TypeAlias

import msgspec

from domain import events as ev
from domain.reporting.facts import Contact, ContactEmployer, Facts, Meeting, Outreach
from domain.reporting.outcomes import MILESTONES
from domain.reporting.scope import AsOf
from domain.reporting.snapshot import (
    ASKS,
    Activity,
    Job,
    ViewParams,
    activity_as_of,
    counselor_as_of,
    enrolment_as_of,
    exit_as_of,
    jobs_as_of,
    looking_from,
    people_links_since,
    removed_as_of,
    walk_threads,
)

FollowUpKind: TypeAlias = Literal[
    "follow_up",
    "exhausted",
    "thank_you_after_rejection",
    "notify_helpers_of_hire",
    "nurture",
    "retention_check_due",
]
SWITCH_ORDER: Final[tuple[ev.Channel, ...]] = ("email", "phone", "text", "letter", "in_person")
"""The order channels are switched in when one has had its two attempts."""
ATTEMPTS_PER_CHANNEL: Final = 2
EXHAUSTED_AFTER: Final = 6
"""Unanswered attempts after which a thread is marked ``exhausted`` rather than followed up."""
THANK_YOU_WINDOW: Final = dt.timedelta(days=7)
NURTURE_AFTER: Final = dt.timedelta(days=60)


class FollowUpParams(ViewParams, frozen=True, kw_only=True):
    """What the queue looks from and whom it covers, with the programme's follow-up setting."""

    follow_up_after_days: int = 7


class FollowUpItem(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One thing to do: its kind, whose it is, what it is about, since when it is due, and why."""

    kind: FollowUpKind
    participant_id: uuid.UUID
    counselor_id: uuid.UUID
    """The participant's counselor as of ``as_of``."""
    due_on: dt.date
    """The day the item became due."""
    reason: str
    contact_id: uuid.UUID | None = None
    outreach_id: uuid.UUID | None = None
    application_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    employer_id: uuid.UUID | None = None
    suggested_channel: ev.Channel | None = None
    """For ``follow_up``: the channel to use next."""
    attempts: int | None = None
    """For ``follow_up`` and ``exhausted``: how many outreaches the thread holds."""
    unanswered: int | None = None
    """For ``follow_up`` and ``exhausted``: how many of them have no response."""
    milestone_days: int | None = None
    """For ``retention_check_due``: the milestone (30, 90 or 180) to verify."""
    due_by: dt.date | None = None
    """For ``thank_you_after_rejection``: the day the 7 days after the rejection end."""


def suggest_channel(channel: ev.Channel, uses: Mapping[str, int]) -> ev.Channel | None:
    """The channel for the next attempt: the same one until it has had two, then the next in the order.

    ``uses`` counts the thread's outreaches by channel. The next channel is the first
    after ``channel`` in ``SWITCH_ORDER`` (wrapping round to ``email``; from a channel
    outside the order, starting at ``email``) that the thread has not used twice;
    ``None`` when every channel of the order has been used twice.
    """
    if uses.get(channel, 0) < ATTEMPTS_PER_CHANNEL:
        return channel
    start = SWITCH_ORDER.index(channel) + 1 if channel in SWITCH_ORDER else 0
    for step in range(len(SWITCH_ORDER)):
        candidate = SWITCH_ORDER[(start + step) % len(SWITCH_ORDER)]
        if uses.get(candidate, 0) < ATTEMPTS_PER_CHANNEL:
            return candidate
    return None


class Thread(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An outreach and the ones it follows up (back to the first): how many, how many unanswered, by channel."""

    attempts: int
    unanswered: int
    uses: dict[str, int]


def threads(outreaches: Sequence[Outreach], answered: set[int]) -> dict[int, Thread]:
    """The thread ending at each counted outreach, by ``outreach_id.int`` (``snapshot.walk_threads``)."""

    def extend(parent: Thread | None, outreach: Outreach) -> Thread:
        uses = dict(parent.uses) if parent is not None else {}
        uses[outreach.channel] = uses.get(outreach.channel, 0) + 1
        return Thread(
            attempts=(parent.attempts if parent is not None else 0) + 1,
            unanswered=(parent.unanswered if parent is not None else 0) + (outreach.outreach_id.int not in answered),
            uses=uses,
        )

    return walk_threads(outreaches, extend)


def employer_of_contact(facts: Facts, contact_id: uuid.UUID, instant: dt.datetime, as_of: AsOf) -> uuid.UUID | None:
    """The employer a contact worked for at an instant, as known by the report.

    The latest counted ``contact_updated`` naming an employer at or before the instant,
    else the one ``contact_added`` named (the contact's first state holds until changed);
    ``None`` for a contact that does not exist as of the report.
    """
    contact: Contact | None = facts.contacts.get(contact_id)
    if contact is None or not as_of.counts(contact):
        return None
    latest: ContactEmployer | None = None
    for update in facts.contact_employers.get(contact_id, ()):
        if (
            update.occurred_at <= instant
            and as_of.counts(update)
            and (latest is None or (update.occurred_at, update.position) > (latest.occurred_at, latest.position))
        ):
            latest = update
    return contact.employer_id if latest is None else latest.employer_id


class _Queue:
    """Builds one participant's items."""

    def __init__(
        self, facts: Facts, params: FollowUpParams, as_of: AsOf, participant_id: uuid.UUID, counselor_id: uuid.UUID
    ) -> None:
        self.facts = facts
        self.params = params
        self.as_of = as_of
        self.participant_id = participant_id
        self.counselor_id = counselor_id
        self.items: list[FollowUpItem] = []

    def add(
        self,
        kind: FollowUpKind,
        due_on: dt.date,
        reason: str,
        *,
        contact_id: uuid.UUID | None = None,
        outreach_id: uuid.UUID | None = None,
        application_id: uuid.UUID | None = None,
        job_id: uuid.UUID | None = None,
        employer_id: uuid.UUID | None = None,
        suggested_channel: ev.Channel | None = None,
        attempts: int | None = None,
        unanswered: int | None = None,
        milestone_days: int | None = None,
        due_by: dt.date | None = None,
    ) -> None:
        """Queue an item of this participant."""
        self.items.append(
            FollowUpItem(
                kind=kind,
                participant_id=self.participant_id,
                counselor_id=self.counselor_id,
                due_on=due_on,
                reason=reason,
                contact_id=contact_id,
                outreach_id=outreach_id,
                application_id=application_id,
                job_id=job_id,
                employer_id=employer_id,
                suggested_channel=suggested_channel,
                attempts=attempts,
                unanswered=unanswered,
                milestone_days=milestone_days,
                due_by=due_by,
            )
        )

    def contact_removed(self, contact_id: uuid.UUID) -> bool:
        """A contact whose creation a counted void removed: nothing more is to be done with them."""
        contact = self.facts.contacts.get(contact_id)
        return contact is not None and removed_as_of(contact, self.as_of)

    def due_outreach(self, activity: Activity) -> None:
        as_of = self.as_of
        outreaches = activity.outreaches
        answered = {response.outreach_id.int for response in activity.responses}
        followed_up = {outreach.follow_up_of.int for outreach in outreaches if outreach.follow_up_of is not None}
        latest_due = as_of.date - dt.timedelta(days=self.params.follow_up_after_days)
        due = [
            outreach
            for outreach in outreaches
            if outreach.outreach_id.int not in answered
            and outreach.outreach_id.int not in followed_up
            and as_of.local_date(outreach.occurred_at) <= latest_due
            and not self.contact_removed(outreach.contact_id)
        ]
        if not due:
            return
        # ``followed_up`` may name an outreach that does not count; it is simply never looked up.
        thread_of = threads(outreaches, answered)
        after = dt.timedelta(days=self.params.follow_up_after_days)
        for outreach in due:
            thread = thread_of[outreach.outreach_id.int]
            sent_on = as_of.local_date(outreach.occurred_at)
            due_on = sent_on + after
            if thread.unanswered >= EXHAUSTED_AFTER:
                kind: FollowUpKind = "exhausted"
                channel = None
                reason = f"{thread.unanswered} unanswered attempts in this thread: stop chasing this contact"
            else:
                kind = "follow_up"
                channel = suggest_channel(outreach.channel, thread.uses)
                how = f"by {channel}" if channel is not None else "(every channel has had two attempts)"
                reason = (
                    f"no reply to the {outreach.channel} of {sent_on.isoformat()}: follow up {how}"
                    f" (attempt {thread.attempts + 1})"
                )
            self.add(
                kind,
                due_on,
                reason,
                contact_id=outreach.contact_id,
                outreach_id=outreach.outreach_id,
                suggested_channel=channel,
                attempts=thread.attempts,
                unanswered=thread.unanswered,
            )

    def thank_you_after_rejection(self, activity: Activity) -> None:
        """Each rejection with no thank-you to a contact of the employer within the 7 days after it.

        The 7 days are exact (``seconds / 86400``, both ends being instants), from the
        rejection's ``occurred_at`` on. A rejection left unthanked in them stays in the
        queue: a later thank-you does not make one within them.
        """
        as_of = self.as_of
        rejections = [closure for closure in activity.closures if closure.outcome == "rejected"]
        if not rejections:
            return
        employer_of_application = {
            application.application_id.int: application.employer_id for application in activity.applications
        }
        # (when sent, employer of its contact then) of every thank-you, looked up once.
        thanks = [
            (
                outreach.occurred_at,
                employer_of_contact(self.facts, outreach.contact_id, outreach.occurred_at, as_of),
            )
            for outreach in activity.outreaches
            if outreach.purpose == "thank_you"
        ]
        for closure in rejections:
            closed_at = closure.occurred_at
            closed_on = as_of.local_date(closed_at)
            due_by = as_of.local_date(closed_at + THANK_YOU_WINDOW)
            employer_id = employer_of_application[closure.application_id.int]
            if any(
                closed_at <= sent_at <= closed_at + THANK_YOU_WINDOW and employer == employer_id
                for sent_at, employer in thanks
            ):
                continue
            if as_of.date <= due_by:
                reason = f"rejected on {closed_on.isoformat()}: thank a contact at the employer by {due_by.isoformat()}"
            else:
                reason = f"rejected on {closed_on.isoformat()}: no contact at the employer was thanked within 7 days"
            self.add(
                "thank_you_after_rejection",
                closed_on,
                reason,
                application_id=closure.application_id,
                employer_id=employer_id,
                due_by=due_by,
            )

    def notify_helpers_of_hire(self, activity: Activity, jobs: Mapping[uuid.UUID, Job]) -> None:
        """Each contact asked for a meeting or a referral before the latest hire and not told of it since.

        Before and since compare instants, not days: an ask later on the day of the
        hire is not help with it, and a ``notify_hired`` earlier that day is not news of it.
        """
        as_of = self.as_of
        if not jobs:
            return
        # The news is the hire itself, recorded by as_of, whether or not the job has started.
        hire = max((job.hire for job in jobs.values()), key=lambda hire: (hire.occurred_at, hire.position))
        hired_on = as_of.local_date(hire.occurred_at)
        asked: dict[uuid.UUID, None] = {}
        told: set[uuid.UUID] = set()
        for outreach in activity.outreaches:
            if outreach.purpose in ASKS and outreach.occurred_at < hire.occurred_at:
                asked[outreach.contact_id] = None
            elif outreach.purpose == "notify_hired" and outreach.occurred_at >= hire.occurred_at:
                told.add(outreach.contact_id)
        for contact_id in asked:
            if contact_id in told or self.contact_removed(contact_id):
                continue
            self.add(
                "notify_helpers_of_hire",
                hired_on,
                f"hired on {hired_on.isoformat()}: tell this contact, who was asked for help, the news",
                contact_id=contact_id,
                job_id=hire.job_id,
                employer_id=hire.employer_id,
            )

    def nurture(self, activity: Activity, links: Mapping[uuid.UUID, dt.date]) -> None:
        """People Links whose latest outreach or meeting (or none ever) is 60 or more days before ``as_of``.

        The 60 days count from the latest touch however recently the contact became a
        People Link; the item is due from the later of the 60th day and that day.
        """
        as_of = self.as_of
        if not links:
            return
        last_touch: dict[uuid.UUID, dt.date] = {}
        touches: list[Outreach | Meeting] = [*activity.outreaches, *activity.meetings]
        for touch in touches:
            if touch.contact_id in links:
                day = as_of.local_date(touch.occurred_at)
                known = last_touch.get(touch.contact_id)
                if known is None or day > known:
                    last_touch[touch.contact_id] = day
        for contact_id, linked_on in links.items():
            touched_on = last_touch.get(contact_id)
            if touched_on is None:
                due_on, reason = linked_on, "People Link never written to or met: get in touch"
            else:
                due_on = max(touched_on + NURTURE_AFTER, linked_on)
                reason = f"People Link not written to or met since {touched_on.isoformat()}: get back in touch"
            if due_on <= as_of.date:
                self.add("nurture", due_on, reason, contact_id=contact_id)

    def retention_checks(self, jobs: Mapping[uuid.UUID, Job]) -> None:
        day = self.as_of.date
        for job in jobs.values():
            start = job.hire.start_date
            if job.end is not None or start > day:
                continue
            for days in MILESTONES:
                milestone = start + dt.timedelta(days=days)
                if any(verified_on >= milestone for verified_on in job.verified_on):
                    continue
                if milestone <= day:
                    self.add(
                        "retention_check_due",
                        milestone,
                        f"{days} days in the job on {milestone.isoformat()}: verify employment",
                        job_id=job.hire.job_id,
                        employer_id=job.hire.employer_id,
                        milestone_days=days,
                    )
                break


def queue_order(item: FollowUpItem) -> tuple[dt.date, str, str, str, str, str, str]:
    """Where an item stands in the queue: by due day, then kind, then whose and what about (the ids as text)."""
    return (
        item.due_on,
        item.kind,
        str(item.participant_id),
        str(item.contact_id or ""),
        str(item.outreach_id or ""),
        str(item.application_id or ""),
        str(item.job_id or ""),
    )


def follow_up_queue(facts: Facts, params: FollowUpParams) -> list[FollowUpItem]:
    """Every item due on ``as_of`` for the participants existing then (and the filters), by due day then kind."""
    as_of = looking_from(params)
    items: list[FollowUpItem] = []
    for participant_id, bundle in facts.participants.items():
        enrolment = enrolment_as_of(bundle, as_of)
        if enrolment is None or (params.cohort is not None and enrolment.cohort != params.cohort):
            continue
        counselor_id = counselor_as_of(bundle, enrolment, as_of)
        if params.counselor_id is not None and counselor_id != params.counselor_id:
            continue
        queue = _Queue(facts, params, as_of, participant_id, counselor_id)
        jobs = jobs_as_of(bundle, as_of)
        queue.retention_checks(jobs)
        if exit_as_of(bundle, as_of) is None:
            activity = activity_as_of(bundle, as_of)
            queue.due_outreach(activity)
            queue.thank_you_after_rejection(activity)
            queue.notify_helpers_of_hire(activity, jobs)
            queue.nurture(activity, people_links_since(bundle, jobs, facts.contacts, as_of))
        items += queue.items
    items.sort(key=queue_order)
    return items
