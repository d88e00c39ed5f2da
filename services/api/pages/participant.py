"""A participant's page: the pipeline, jobs and retention milestones, and each relationship with its timeline."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from domain.reporting.relationships import STAGES, TimelineEntry
from domain.streams import StreamKind
from infra.crypto import SubjectKeys
from infra.db import TenantConnection
from infra.event_store import EventStore
from services.api.pages.site import page
from services.api.participant_routes import build_pipeline, build_relationships, build_timeline
from services.api.record_names import record_names
from services.api.scope import participant_scoped
from services.api.security import Principal, audit_participant, roles

JOB_EVENTS = frozenset({"hired", "employment_verified", "promoted", "job_ended"})


def jobs_of(entries: list[TimelineEntry]) -> list[dict[str, Any]]:
    """The participant's jobs as their timeline tells them: the hire, then what happened to each job, in order."""
    jobs: dict[uuid.UUID, dict[str, Any]] = {}
    for entry in entries:
        if entry.kind not in JOB_EVENTS or entry.job_id is None:
            continue
        if entry.kind == "hired":
            jobs[entry.job_id] = {"hire": entry, "events": []}
        elif entry.job_id in jobs:
            jobs[entry.job_id]["events"].append(entry)
    return list(jobs.values())


class ParticipantPageController(Controller):
    """``/app/participants/{participant_id}``: read as ``GET /v1/participants/{id}/…`` reads, logged the same."""

    include_in_schema = False

    @get(
        "/participants/{participant_id:uuid}",
        opt={
            **roles("admin", "staff", "counselor"),
            **participant_scoped("participant_id"),
            **audit_participant("participant_id", action="participantPage"),
        },
    )
    async def participant(
        self,
        participant_id: FromPath[uuid.UUID],
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        store: NamedDependency[EventStore],
        subject_keys: NamedDependency[SubjectKeys],
    ) -> Template:
        principal = request.user
        pipeline = await build_pipeline(db, principal, participant_id, as_of=None)
        relationships = await build_relationships(db, principal, participant_id, as_of=None)
        timeline = await build_timeline(db, principal, participant_id, as_of=None)
        wanted: set[tuple[StreamKind, uuid.UUID]] = {("participant", participant_id)}
        for relationship in relationships.relationships:
            wanted.add(("contact", relationship.contact_id))
        for entry in timeline.entries:
            wanted |= {("contact", c) for c in (entry.contact_id, entry.to_contact_id) if c is not None}
            if entry.employer_id is not None:
                wanted.add(("employer", entry.employer_id))
        names = await record_names(db, store, subject_keys, principal.programme_id, wanted)

        def name_of(record_id: uuid.UUID) -> str:
            return names[record_id].name if record_id in names else "(unknown)"

        # People Links first, then the relationships furthest along, then by name.
        ordered = sorted(
            relationships.relationships,
            key=lambda r: (not r.people_link, -STAGES.index(r.stage), name_of(r.contact_id).lower()),
        )
        return page(
            request,
            "participant.html",
            title=name_of(participant_id),
            participant_name=name_of(participant_id),
            pipeline=pipeline.pipeline,
            position=pipeline.global_position,
            as_of=pipeline.as_of,
            relationships=ordered,
            jobs=jobs_of(timeline.entries),
            names={k: msgspec.structs.asdict(v) for k, v in names.items()},
            stages=STAGES,
        )
