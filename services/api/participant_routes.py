"""A participant's read models (timeline, relationships, pipeline), the follow-up queue and the funnel."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, FromQuery, QueryParameter

from domain.reporting.follow_ups import FollowUpItem, FollowUpParams
from domain.reporting.pipeline import Funnel, Pipeline
from domain.reporting.relationships import Relationship, TimelineEntry
from domain.reporting.snapshot import ViewParams
from infra.db import TenantConnection
from projections.caseload_queries import caseload
from projections.funnel_queries import programme_funnel_at
from projections.participant_views import follow_ups_at, pipeline_at, relationships_at, timeline_at
from services.api.limits import report_quota
from services.api.problems import NotFound, problem_responses
from services.api.reading_routes import programme_settings, report_position, today_in
from services.api.scope import participant_scoped
from services.api.security import Principal, audit_participant, roles

AsOfQuery = Annotated[dt.date | None, QueryParameter(description="the day to look from (default: today)")]
STAFF_AND_COUNSELORS = ("admin", "staff", "counselor")


class TimelineOut(msgspec.Struct, frozen=True, kw_only=True):
    """Everything that happened in a participant's job search, in occurred_at order (voided events left out)."""

    participant_id: uuid.UUID
    as_of: dt.date
    global_position: int
    entries: list[TimelineEntry]


class RelationshipsOut(msgspec.Struct, frozen=True, kw_only=True):
    """Each contact the participant's events name, with its stage and its own timeline."""

    participant_id: uuid.UUID
    as_of: dt.date
    global_position: int
    relationships: list[Relationship]


class PipelineOut(msgspec.Struct, frozen=True, kw_only=True):
    """Where a participant stands, step by step."""

    as_of: dt.date
    global_position: int
    pipeline: Pipeline


class FollowUpsOut(msgspec.Struct, frozen=True, kw_only=True):
    """What counselors should do next."""

    as_of: dt.date
    global_position: int
    items: list[FollowUpItem]


class FunnelOut(msgspec.Struct, frozen=True, kw_only=True):
    """How many participants reached each step."""

    as_of: dt.date
    global_position: int
    funnel: Funnel


async def _view(
    db: TenantConnection, principal: Principal, as_of: dt.date | None, **extra: Any
) -> tuple[ViewParams, int, int]:
    """What a view looks from (today in the programme's zone by default), at the read models' position."""
    programme = await programme_settings(db, principal.programme_id)
    day = as_of or today_in(programme.time_zone)
    at = await report_position(db, None)
    params = ViewParams(
        as_of=day, time_zone=programme.time_zone, as_of_position=at.position, as_of_horizon=at.horizon, **extra
    )
    return params, at.position, programme.follow_up_after_days


async def _require_participant(db: TenantConnection, programme_id: uuid.UUID, participant_id: uuid.UUID) -> None:
    exists = await db.fetchval(
        "SELECT NOT removed FROM streams WHERE programme_id = $1 AND stream_id = $2",
        programme_id,
        f"participant-{participant_id}",
    )
    if not exists:
        raise NotFound()


async def build_timeline(
    db: TenantConnection, principal: Principal, participant_id: uuid.UUID, *, as_of: dt.date | None
) -> TimelineOut:
    """A participant's timeline as the API answers it (the pages read it through here too)."""
    await _require_participant(db, principal.programme_id, participant_id)
    params, position, _ = await _view(db, principal, as_of)
    return TimelineOut(
        participant_id=participant_id,
        as_of=params.as_of,
        global_position=position,
        entries=await timeline_at(db, principal.programme_id, participant_id, params),
    )


async def build_relationships(
    db: TenantConnection, principal: Principal, participant_id: uuid.UUID, *, as_of: dt.date | None
) -> RelationshipsOut:
    """A participant's relationships, each with its stage and its own timeline."""
    await _require_participant(db, principal.programme_id, participant_id)
    params, position, _ = await _view(db, principal, as_of)
    return RelationshipsOut(
        participant_id=participant_id,
        as_of=params.as_of,
        global_position=position,
        relationships=await relationships_at(db, principal.programme_id, participant_id, params),
    )


async def build_pipeline(
    db: TenantConnection, principal: Principal, participant_id: uuid.UUID, *, as_of: dt.date | None
) -> PipelineOut:
    """A participant's pipeline: first dates, jobs, the current job's retention milestones."""
    await _require_participant(db, principal.programme_id, participant_id)
    params, position, _ = await _view(db, principal, as_of)
    found = await pipeline_at(db, principal.programme_id, participant_id, params)
    if found is None:
        raise NotFound()
    return PipelineOut(as_of=params.as_of, global_position=position, pipeline=found)


async def build_follow_ups(
    db: TenantConnection, principal: Principal, *, as_of: dt.date | None, counselor_id: uuid.UUID | None
) -> FollowUpsOut:
    """The follow-up queue for this caller: a counselor's own participants' items, or anyone's for staff."""
    if principal.role == "counselor":
        if counselor_id not in (None, principal.user_id):
            raise PermissionDeniedException("counselors see their own follow-ups")
        counselor_id = principal.user_id
    view, position, after_days = await _view(db, principal, as_of, counselor_id=counselor_id)
    params = FollowUpParams(**{f: getattr(view, f) for f in view.__struct_fields__}, follow_up_after_days=after_days)
    items = await follow_ups_at(db, principal.programme_id, params)
    return FollowUpsOut(as_of=view.as_of, global_position=position, items=items)


async def build_caseload(
    db: TenantConnection, principal: Principal, *, counselor_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """The participants existing today, of one counselor (a counselor's own always) or of the whole programme."""
    if principal.role == "counselor":
        counselor_id = principal.user_id
    params, _, _ = await _view(db, principal, None, counselor_id=counselor_id)
    return await caseload(db, principal.programme_id, params)


async def build_funnel(
    db: TenantConnection,
    principal: Principal,
    *,
    as_of: dt.date | None,
    cohort: str | None,
    counselor_id: uuid.UUID | None,
) -> FunnelOut:
    """The programme funnel: how many participants reached each step, as of a day."""
    params, position, _ = await _view(db, principal, as_of, cohort=cohort, counselor_id=counselor_id)
    funnel = await programme_funnel_at(db, principal.programme_id, params)
    return FunnelOut(as_of=params.as_of, global_position=position, funnel=funnel)


PARTICIPANT_READ = {**roles(*STAFF_AND_COUNSELORS), **participant_scoped("participant_id")}
PARTICIPANT_PROBLEMS = problem_responses(400, 401, 403, 404, 422)


class ParticipantController(Controller):
    """``/v1/participants/{id}/timeline|relationships|pipeline``, ``/v1/follow-ups``, ``/v1/dashboards/funnel``."""

    tags = ("read models",)

    @get(
        "/v1/participants/{participant_id:uuid}/timeline",
        operation_id="participantTimeline",
        responses=PARTICIPANT_PROBLEMS,
        opt={**PARTICIPANT_READ, **audit_participant("participant_id")},
        summary="A participant's timeline",
    )
    async def timeline(
        self,
        participant_id: FromPath[uuid.UUID],
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        as_of: AsOfQuery = None,
    ) -> TimelineOut:
        return await build_timeline(db, request.user, participant_id, as_of=as_of)

    @get(
        "/v1/participants/{participant_id:uuid}/relationships",
        operation_id="participantRelationships",
        responses=PARTICIPANT_PROBLEMS,
        opt={**PARTICIPANT_READ, **audit_participant("participant_id")},
        summary="Each contact of a participant: stage, People Link, timeline",
    )
    async def relationships(
        self,
        participant_id: FromPath[uuid.UUID],
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        as_of: AsOfQuery = None,
    ) -> RelationshipsOut:
        return await build_relationships(db, request.user, participant_id, as_of=as_of)

    @get(
        "/v1/participants/{participant_id:uuid}/pipeline",
        operation_id="participantPipeline",
        responses=PARTICIPANT_PROBLEMS,
        opt={**PARTICIPANT_READ, **audit_participant("participant_id")},
        summary="A participant's pipeline",
    )
    async def pipeline(
        self,
        participant_id: FromPath[uuid.UUID],
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        as_of: AsOfQuery = None,
    ) -> PipelineOut:
        return await build_pipeline(db, request.user, participant_id, as_of=as_of)

    @get(
        "/v1/follow-ups",
        opt=roles(*STAFF_AND_COUNSELORS),
        operation_id="followUps",
        responses=problem_responses(400, 401, 403, 422),
        summary="The follow-up queue (a counselor sees their own participants' items)",
    )
    async def follow_ups(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        as_of: AsOfQuery = None,
        counselor_id: FromQuery[uuid.UUID | None] = None,
    ) -> FollowUpsOut:
        return await build_follow_ups(db, request.user, as_of=as_of, counselor_id=counselor_id)

    @get(
        "/v1/dashboards/funnel",
        opt={**roles(*STAFF_AND_COUNSELORS), **report_quota()},
        operation_id="funnel",
        responses=problem_responses(400, 401, 403, 422, 429),
        summary="The programme funnel: participants who reached each step",
    )
    async def funnel(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        as_of: AsOfQuery = None,
        cohort: FromQuery[str | None] = None,
        counselor_id: FromQuery[uuid.UUID | None] = None,
    ) -> FunnelOut:
        return await build_funnel(db, request.user, as_of=as_of, cohort=cohort, counselor_id=counselor_id)
