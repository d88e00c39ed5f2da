"""Given a stream's history, when an event is appended, then the rules accept or refuse it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from domain.events import (
    ApplicationClosed,
    ContactUpdated,
    CounselorAssigned,
    EmployerUpdated,
    EmploymentVerified,
    Event,
    InterviewHeld,
    JobEnded,
    JobSearchObjectiveSet,
    Promoted,
    ReferralMade,
    RelationshipNoted,
    ResponseReceived,
    StreamKind,
)
from domain.rules import References, RuleViolation, lookups_for
from domain.streams import fold, initial_state
from tests.unit.given import (
    CONTACT,
    COUNSELOR,
    CREATION,
    EMPLOYER,
    NOW,
    OTHER_CONTACT,
    PROGRAMME,
    STRANGER,
    application_submitted,
    check,
    contact_added,
    day,
    employer_added,
    enrolled,
    entry,
    exited,
    hired,
    meeting_held,
    new_id,
    outreach_sent,
    participant,
    referral_made,
    voided,
)

# --- 1. a stream opens with its creation event, once, and takes only its own types ----------


@pytest.mark.parametrize("kind", ["participant", "contact", "employer"])
def test_creation_event_opens_a_new_stream(kind: StreamKind) -> None:
    given = initial_state(kind)

    check(given, entry(CREATION[kind]))


@pytest.mark.parametrize(
    ("kind", "first"),
    [
        ("participant", outreach_sent(new_id())),
        ("participant", CounselorAssigned(counselor_id=COUNSELOR)),
        ("contact", ContactUpdated(name="Sam O.")),
        ("employer", EmployerUpdated(city="Oakland")),
    ],
)
def test_stream_opened_by_anything_but_its_creation_event_is_refused(kind: StreamKind, first: Event) -> None:
    given = initial_state(kind)

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(first))

    assert refusal.value.field == "type"
    assert "must start with" in refusal.value.message


@pytest.mark.parametrize("kind", ["participant", "contact", "employer"])
def test_second_creation_event_is_refused(kind: StreamKind) -> None:
    given = fold(kind, [entry(CREATION[kind])])

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(CREATION[kind], on=day(1)))

    assert refusal.value.field == "type"
    assert "already has a record" in refusal.value.message


@pytest.mark.parametrize(
    ("kind", "foreign"),
    [
        ("contact", outreach_sent(new_id())),
        ("contact", employer_added()),
        ("employer", contact_added()),
        ("participant", ContactUpdated(name="Sam O.")),
    ],
)
def test_event_of_another_kind_of_stream_is_refused(kind: StreamKind, foreign: Event) -> None:
    given = fold(kind, [entry(CREATION[kind])])

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(foreign, on=day(1)))

    assert refusal.value.field == "type"
    assert f"on a {kind}'s record" in refusal.value.message


@pytest.mark.parametrize(
    ("kind", "later"),
    [
        ("participant", outreach_sent(new_id())),
        ("participant", enrolled()),
        ("contact", ContactUpdated(name="Sam O.")),
        ("employer", EmployerUpdated(city="Oakland")),
    ],
)
def test_nothing_is_recorded_on_a_record_whose_creation_was_voided(kind: StreamKind, later: Event) -> None:
    creation = entry(CREATION[kind])
    given = fold(kind, [creation, entry(voided(creation.event_id), on=day(1))])

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(later, on=day(2)))

    assert refusal.value.field == "stream_id"
    assert "was removed" in refusal.value.message


def test_a_removed_record_cannot_be_voided_further() -> None:
    creation = entry(enrolled())
    outreach = entry(outreach_sent(new_id()), on=day(1))
    given = fold("participant", [creation, outreach, entry(voided(creation.event_id), on=day(2))])

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(voided(outreach.event_id), on=day(3)))

    assert refusal.value.field == "stream_id"


def test_event_id_already_in_the_stream_is_refused() -> None:
    outreach = entry(outreach_sent(new_id()), on=day(1))
    given = participant(outreach)

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(meeting_held(new_id()), on=day(2), event_id=outreach.event_id))

    assert refusal.value.field == "event_id"
    assert "outreach_sent" in refusal.value.message


# --- 2. ids referred to must exist: in the programme (refs) ----------------------------------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (RelationshipNoted(contact_id=STRANGER, closeness="close", how_known="family"), "data.contact_id"),
        (outreach_sent(new_id(), contact_id=STRANGER), "data.contact_id"),
        (meeting_held(new_id(), contact_id=STRANGER), "data.contact_id"),
        (referral_made(new_id(), contact_id=STRANGER), "data.contact_id"),
        (ReferralMade(referral_id=new_id(), contact_id=CONTACT, to_contact_id=STRANGER), "data.to_contact_id"),
        (ReferralMade(referral_id=new_id(), contact_id=CONTACT, employer_id=STRANGER), "data.employer_id"),
        (application_submitted(new_id(), employer_id=STRANGER), "data.employer_id"),
        (hired(new_id(), employer_id=STRANGER), "data.employer_id"),
        (hired(new_id(), via_contact_id=STRANGER), "data.via_contact_id"),
        (CounselorAssigned(counselor_id=STRANGER), "data.counselor_id"),
        (
            JobSearchObjectiveSet(target_titles=["Cook"], target_employer_ids=[EMPLOYER, STRANGER]),
            "data.target_employer_ids[1]",
        ),
    ],
)
def test_participant_event_naming_a_record_outside_the_programme_is_refused(event: Event, field: str) -> None:
    given = participant()

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(event, on=day(1)))

    assert refusal.value.field == field
    assert str(STRANGER) in refusal.value.message


@pytest.mark.parametrize(
    "event",
    [
        RelationshipNoted(contact_id=OTHER_CONTACT, closeness="well", how_known="former_colleague"),
        outreach_sent(new_id(), contact_id=OTHER_CONTACT),
        ReferralMade(referral_id=new_id(), contact_id=CONTACT, to_contact_id=OTHER_CONTACT, employer_id=EMPLOYER),
        hired(new_id(), via_contact_id=CONTACT),
        CounselorAssigned(counselor_id=COUNSELOR),
        JobSearchObjectiveSet(target_titles=["Cook"], target_employer_ids=[EMPLOYER]),
    ],
)
def test_participant_event_naming_records_of_the_programme_is_accepted(event: Event) -> None:
    given = participant()

    check(given, entry(event, on=day(1)))


def test_enrolment_with_a_counselor_outside_the_programme_is_refused() -> None:
    given = initial_state("participant")

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(enrolled(counselor_id=STRANGER)))

    assert refusal.value.field == "data.counselor_id"
    assert "counselor" in refusal.value.message


def test_record_known_only_to_another_programme_counts_as_absent() -> None:
    given = participant()
    other_programmes_view = References(contacts=frozenset(), employers=PROGRAMME.employers)

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(outreach_sent(new_id()), on=day(1)), refs=other_programmes_view)

    assert refusal.value.field == "data.contact_id"


def test_contact_added_at_an_employer_outside_the_programme_is_refused() -> None:
    given = initial_state("contact")

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(contact_added(employer_id=STRANGER)))

    assert refusal.value.field == "data.employer_id"


def test_contact_moved_to_an_employer_outside_the_programme_is_refused() -> None:
    given = fold("contact", [entry(contact_added())])

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(ContactUpdated(employer_id=STRANGER), on=day(1)))

    assert refusal.value.field == "data.employer_id"


def test_contact_linked_to_an_employer_of_the_programme_is_accepted() -> None:
    given = fold("contact", [entry(contact_added())])

    check(given, entry(ContactUpdated(employer_id=EMPLOYER), on=day(1)))


@pytest.mark.parametrize(
    ("kind", "event", "contacts", "employers", "counselors"),
    [
        ("participant", enrolled(), set(), set(), {COUNSELOR}),
        ("participant", outreach_sent(new_id()), {CONTACT}, set(), set()),
        ("participant", meeting_held(new_id(), contact_id=OTHER_CONTACT), {OTHER_CONTACT}, set(), set()),
        (
            "participant",
            RelationshipNoted(contact_id=CONTACT, closeness="close", how_known="friend"),
            {CONTACT},
            set(),
            set(),
        ),
        ("participant", CounselorAssigned(counselor_id=COUNSELOR), set(), set(), {COUNSELOR}),
        ("participant", application_submitted(new_id()), set(), {EMPLOYER}, set()),
        (
            "participant",
            ReferralMade(referral_id=new_id(), contact_id=CONTACT, to_contact_id=OTHER_CONTACT, employer_id=EMPLOYER),
            {CONTACT, OTHER_CONTACT},
            {EMPLOYER},
            set(),
        ),
        ("participant", hired(new_id(), via_contact_id=OTHER_CONTACT), {OTHER_CONTACT}, {EMPLOYER}, set()),
        ("participant", hired(new_id()), set(), {EMPLOYER}, set()),
        (
            "participant",
            JobSearchObjectiveSet(target_titles=["Cook"], target_employer_ids=[EMPLOYER, STRANGER]),
            set(),
            {EMPLOYER, STRANGER},
            set(),
        ),
        ("participant", ResponseReceived(outreach_id=new_id(), outcome="positive"), set(), set(), set()),
        ("contact", contact_added(employer_id=EMPLOYER), set(), {EMPLOYER}, set()),
        ("contact", ContactUpdated(phone="555-0100"), set(), set(), set()),
        ("contact", ContactUpdated(employer_id=EMPLOYER), set(), {EMPLOYER}, set()),
        ("employer", employer_added(), set(), set(), set()),
    ],
)
def test_lookups_name_every_record_an_event_refers_to(
    kind: StreamKind, event: Event, contacts: set[uuid.UUID], employers: set[uuid.UUID], counselors: set[uuid.UUID]
) -> None:
    lookups = lookups_for(kind, entry(event))

    assert (lookups.contacts, lookups.employers, lookups.counselors) == tuple(
        map(frozenset, (contacts, employers, counselors))
    )


def test_lookups_for_an_event_foreign_to_the_stream_are_empty() -> None:
    lookups = lookups_for("contact", entry(outreach_sent(new_id(), contact_id=OTHER_CONTACT)))

    assert OTHER_CONTACT not in lookups.contacts


# --- 2. ids referred to must exist: in this stream, and not voided ----------------------------


def test_response_to_an_outreach_never_sent_is_refused() -> None:
    given = participant(entry(outreach_sent(new_id()), on=day(1)))
    unknown = new_id()

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(ResponseReceived(outreach_id=unknown, outcome="positive"), on=day(2)))

    assert refusal.value.field == "data.outreach_id"
    assert f"outreach {unknown} does not exist in this participant's record" in refusal.value.message


def test_response_to_a_voided_outreach_is_refused() -> None:
    outreach_id = new_id()
    outreach = entry(outreach_sent(outreach_id), on=day(1))
    given = participant(outreach, entry(voided(outreach.event_id), on=day(2)))

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(ResponseReceived(outreach_id=outreach_id, outcome="positive"), on=day(3)))

    assert refusal.value.field == "data.outreach_id"
    assert "voided" in refusal.value.message


def test_response_to_a_live_outreach_is_accepted() -> None:
    outreach_id = new_id()
    given = participant(entry(outreach_sent(outreach_id), on=day(1)))

    check(given, entry(ResponseReceived(outreach_id=outreach_id, outcome="neutral"), on=day(2)))


def test_follow_up_of_an_unknown_outreach_is_refused() -> None:
    given = participant()

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(outreach_sent(new_id(), follow_up_of=new_id()), on=day(1)))

    assert refusal.value.field == "data.follow_up_of"


def test_follow_up_of_an_earlier_outreach_is_accepted() -> None:
    first = new_id()
    given = participant(entry(outreach_sent(first), on=day(1)))

    check(given, entry(outreach_sent(new_id(), follow_up_of=first), on=day(8)))


@pytest.mark.parametrize(
    "about_application",
    [
        lambda application_id: InterviewHeld(application_id=application_id, round=1),
        lambda application_id: ApplicationClosed(application_id=application_id, outcome="rejected"),
        lambda application_id: hired(new_id(), application_id=application_id),
    ],
    ids=["interview_held", "application_closed", "hired"],
)
@pytest.mark.parametrize("application_voided", [False, True], ids=["never_submitted", "voided"])
def test_event_about_an_absent_application_is_refused(
    about_application: Callable[[uuid.UUID], Event], application_voided: bool
) -> None:
    application_id = new_id()
    submitted = entry(application_submitted(application_id), on=day(1))
    history = [submitted, entry(voided(submitted.event_id), on=day(2))] if application_voided else []
    given = participant(*history)

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(about_application(application_id), on=day(3)))

    assert refusal.value.field == "data.application_id"
    assert ("voided" in refusal.value.message) == application_voided


def test_interview_for_a_submitted_application_is_accepted() -> None:
    application_id = new_id()
    given = participant(entry(application_submitted(application_id), on=day(1)))

    check(given, entry(InterviewHeld(application_id=application_id, round=2), on=day(5)))


@pytest.mark.parametrize("referral_voided", [False, True], ids=["never_made", "voided"])
def test_application_citing_an_absent_referral_is_refused(referral_voided: bool) -> None:
    referral_id = new_id()
    referral = entry(referral_made(referral_id), on=day(1))
    given = participant(referral, entry(voided(referral.event_id), on=day(2))) if referral_voided else participant()

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(application_submitted(new_id(), referral_id=referral_id), on=day(3)))

    assert refusal.value.field == "data.referral_id"


def test_application_citing_its_referral_is_accepted() -> None:
    referral_id = new_id()
    given = participant(entry(referral_made(referral_id), on=day(1)))

    check(given, entry(application_submitted(new_id(), referral_id=referral_id), on=day(3)))


JOB_FOLLOW_UPS = [
    lambda job_id: EmploymentVerified(job_id=job_id, verified_on=date(2026, 12, 31), method="pay_stub"),
    lambda job_id: Promoted(job_id=job_id, promoted_on=date(2027, 1, 5), new_title="Sous chef"),
    lambda job_id: JobEnded(job_id=job_id, ended_on=date(2027, 1, 5), reason="quit"),
]
JOB_FOLLOW_UP_IDS = ["employment_verified", "promoted", "job_ended"]


@pytest.mark.parametrize("about_job", JOB_FOLLOW_UPS, ids=JOB_FOLLOW_UP_IDS)
def test_follow_up_of_a_job_never_hired_is_refused(about_job: Callable[[uuid.UUID], Event]) -> None:
    given = participant(entry(hired(new_id()), on=day(20)))
    unknown = new_id()

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(about_job(unknown), on=day(50)))

    assert refusal.value.field == "data.job_id"
    assert str(unknown) in refusal.value.message


@pytest.mark.parametrize("about_job", JOB_FOLLOW_UPS, ids=JOB_FOLLOW_UP_IDS)
def test_follow_up_of_a_voided_hire_is_refused(about_job: Callable[[uuid.UUID], Event]) -> None:
    job_id = new_id()
    hire = entry(hired(job_id), on=day(20))
    given = participant(hire, entry(voided(hire.event_id), on=day(21)))

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(about_job(job_id), on=day(50)))

    assert refusal.value.field == "data.job_id"
    assert "voided" in refusal.value.message


@pytest.mark.parametrize("about_job", JOB_FOLLOW_UPS, ids=JOB_FOLLOW_UP_IDS)
def test_follow_up_of_a_live_job_is_accepted(about_job: Callable[[uuid.UUID], Event]) -> None:
    job_id = new_id()
    given = participant(entry(hired(job_id), on=day(20)))

    check(given, entry(about_job(job_id), on=day(50)))


# --- 3. new ids must be new ------------------------------------------------------------------


REUSABLE = [
    ("data.outreach_id", outreach_sent),
    ("data.meeting_id", meeting_held),
    ("data.referral_id", referral_made),
    ("data.application_id", application_submitted),
    ("data.job_id", hired),
]


@pytest.mark.parametrize(("field", "make"), REUSABLE, ids=[field for field, _ in REUSABLE])
def test_id_already_created_in_the_stream_is_refused(field: str, make: Callable[[uuid.UUID], Event]) -> None:
    reused = new_id()
    given = participant(entry(make(reused), on=day(1)))

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(make(reused), on=day(2)))

    assert refusal.value.field == field
    assert str(reused) in refusal.value.message


@pytest.mark.parametrize(("field", "make"), REUSABLE, ids=[field for field, _ in REUSABLE])
def test_id_of_a_voided_event_cannot_be_reused(field: str, make: Callable[[uuid.UUID], Event]) -> None:
    reused = new_id()
    first = entry(make(reused), on=day(1))
    given = participant(first, entry(voided(first.event_id), on=day(2)))

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(make(reused), on=day(3)))

    assert refusal.value.field == field
    assert "voided" in refusal.value.message


# --- 4. dates --------------------------------------------------------------------------------


def test_job_ending_before_it_started_is_refused() -> None:
    job_id = new_id()
    given = participant(entry(hired(job_id, start_date=date(2026, 12, 1)), on=day(20)))

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(JobEnded(job_id=job_id, ended_on=date(2026, 11, 30), reason="quit"), on=day(40)))

    assert refusal.value.field == "data.ended_on"
    assert "2026-12-01" in refusal.value.message


def test_job_ending_on_its_start_date_is_accepted() -> None:
    job_id = new_id()
    given = participant(entry(hired(job_id, start_date=date(2026, 12, 1)), on=day(20)))

    check(given, entry(JobEnded(job_id=job_id, ended_on=date(2026, 12, 1), reason="other"), on=day(40)))


def test_promotion_dated_before_the_start_is_not_checked() -> None:
    job_id = new_id()
    given = participant(entry(hired(job_id, start_date=date(2026, 12, 1)), on=day(20)))

    check(given, entry(Promoted(job_id=job_id, promoted_on=date(2026, 11, 1), new_title="Lead"), on=day(40)))


def test_response_before_its_outreach_is_refused() -> None:
    outreach_id = new_id()
    given = participant(entry(outreach_sent(outreach_id), on=day(2)))

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(ResponseReceived(outreach_id=outreach_id, outcome="positive"), on=day(1)))

    assert refusal.value.field == "occurred_at"
    assert "before its outreach" in refusal.value.message


def test_response_at_the_moment_of_its_outreach_is_accepted() -> None:
    outreach_id = new_id()
    given = participant(entry(outreach_sent(outreach_id), on=day(2)))

    check(given, entry(ResponseReceived(outreach_id=outreach_id, outcome="positive"), on=day(2)))


def test_event_more_than_a_day_ahead_of_now_is_refused() -> None:
    given = participant()

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(outreach_sent(new_id()), on=NOW + timedelta(hours=24, seconds=1)))

    assert refusal.value.field == "occurred_at"
    assert "future" in refusal.value.message


def test_event_up_to_a_day_ahead_of_now_is_accepted() -> None:
    given = participant()

    check(given, entry(outreach_sent(new_id()), on=NOW + timedelta(hours=24)))


def test_event_recorded_long_after_it_happened_is_accepted() -> None:
    given = participant(entry(outreach_sent(new_id()), on=day(30)))

    check(given, entry(outreach_sent(new_id()), on=day(3)), now=NOW + timedelta(days=365))


def test_occurred_at_without_an_offset_is_refused() -> None:
    given = participant()

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(outreach_sent(new_id()), on=day(1).replace(tzinfo=None)))

    assert refusal.value.field == "occurred_at"


# --- 5. after the exit, only retention follow-up ---------------------------------------------


AFTER_EXIT_REFUSED = [
    outreach_sent(new_id()),
    meeting_held(new_id()),
    referral_made(new_id()),
    application_submitted(new_id()),
    CounselorAssigned(counselor_id=COUNSELOR),
    RelationshipNoted(contact_id=CONTACT, closeness="moderate", how_known="mentor"),
]


@pytest.mark.parametrize("activity", AFTER_EXIT_REFUSED, ids=lambda event: type(event).__name__)
def test_activity_after_exit_is_refused(activity: Event) -> None:
    given = participant(entry(exited(), on=day(40)))

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(activity, on=day(41)))

    assert refusal.value.field == "type"
    assert "after an exit" in refusal.value.message


def test_exit_is_judged_by_append_order_not_by_occurred_at() -> None:
    given = participant(entry(exited(), on=day(40)))

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(outreach_sent(new_id()), on=day(10)))

    assert refusal.value.field == "type"


@pytest.mark.parametrize("about_job", JOB_FOLLOW_UPS, ids=JOB_FOLLOW_UP_IDS)
def test_retention_follow_up_after_exit_is_accepted(about_job: Callable[[uuid.UUID], Event]) -> None:
    job_id = new_id()
    given = participant(entry(hired(job_id), on=day(20)), entry(exited(), on=day(40)))

    check(given, entry(about_job(job_id), on=day(50)))


def test_hire_after_exit_is_accepted() -> None:
    given = participant(entry(exited(), on=day(40)))

    check(given, entry(hired(new_id(), start_date=date(2027, 1, 4)), on=day(50)))


def test_void_after_exit_is_accepted() -> None:
    outreach = entry(outreach_sent(new_id()), on=day(1))
    given = participant(outreach, entry(exited(), on=day(40)))

    check(given, entry(voided(outreach.event_id), on=day(41)))


def test_second_exit_is_refused() -> None:
    given = participant(entry(exited(), on=day(40)))

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(exited(date(2027, 1, 10)), on=day(45)))

    assert refusal.value.field == "type"
    assert "already exited" in refusal.value.message


def test_voiding_the_exit_lets_activity_resume() -> None:
    exit_entry = entry(exited(), on=day(40))
    given = participant(exit_entry, entry(voided(exit_entry.event_id), on=day(41)))

    check(given, entry(outreach_sent(new_id()), on=day(42)))
    check(given, entry(exited(date(2027, 1, 10)), on=day(42)))


# --- 6. voids --------------------------------------------------------------------------------


def test_voiding_an_event_of_this_stream_is_accepted() -> None:
    outreach = entry(outreach_sent(new_id()), on=day(1))
    given = participant(outreach)

    check(given, entry(voided(outreach.event_id), on=day(2)))


def test_voiding_an_event_of_another_stream_is_refused() -> None:
    elsewhere = entry(outreach_sent(new_id()), on=day(1))  # recorded on another participant's stream
    given = participant(entry(outreach_sent(new_id()), on=day(1)))

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(voided(elsewhere.event_id), on=day(2)))

    assert refusal.value.field == "data.voided_event_id"
    assert "is not part of this participant's record" in refusal.value.message


def test_voiding_an_event_twice_is_refused() -> None:
    outreach = entry(outreach_sent(new_id()), on=day(1))
    first_void = entry(voided(outreach.event_id), on=day(2))
    given = participant(outreach, first_void)

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(voided(outreach.event_id), on=day(3)))

    assert refusal.value.field == "data.voided_event_id"
    assert str(first_void.event_id) in refusal.value.message


def test_voiding_a_void_is_refused() -> None:
    outreach = entry(outreach_sent(new_id()), on=day(1))
    void = entry(voided(outreach.event_id), on=day(2))
    given = participant(outreach, void)

    with pytest.raises(RuleViolation) as refusal:
        check(given, entry(voided(void.event_id), on=day(3)))

    assert refusal.value.field == "data.voided_event_id"
    assert "itself a void" in refusal.value.message


def test_voiding_the_creation_event_is_accepted() -> None:
    creation = entry(contact_added())
    given = fold("contact", [creation, entry(ContactUpdated(phone="555-0100"), on=day(1))])

    check(given, entry(voided(creation.event_id), on=day(2)))


def test_rule_violation_carries_field_and_message() -> None:
    violation = RuleViolation("data.contact_id", "contact is unknown")

    assert (violation.field, violation.message, str(violation)) == (
        "data.contact_id",
        "contact is unknown",
        "data.contact_id: contact is unknown",
    )
