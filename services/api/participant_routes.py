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
        await _require_participant(db, request.user.programme_id, participant_id)
        params, position, _ = await _view(db, request.user, as_of)
        return TimelineOut(
            participant_id=participant_id,
            as_of=params.as_of,
            global_position=position,
            entries=await timeline_at(db, request.user.programme_id, participant_id, params),
        )

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
        await _require_participant(db, request.user.programme_id, participant_id)
        params, position, _ = await _view(db, request.user, as_of)
        return RelationshipsOut(
            participant_id=participant_id,
            as_of=params.as_of,
            global_position=position,
            relationships=await relationships_at(db, request.user.programme_id, participant_id, params),
        )

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
        await _require_participant(db, request.user.programme_id, participant_id)
        params, position, _ = await _view(db, request.user, as_of)
        found = await pipeline_at(db, request.user.programme_id, participant_id, params)
        if found is None:
            raise NotFound()
        return PipelineOut(as_of=params.as_of, global_position=position, pipeline=found)

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
        principal = request.user
        if principal.role == "counselor":
            if counselor_id not in (None, principal.user_id):
                raise PermissionDeniedException("counselors see their own follow-ups")
            counselor_id = principal.user_id
        view, position, after_days = await _view(db, principal, as_of, counselor_id=counselor_id)
        params = FollowUpParams(
            **{f: getattr(view, f) for f in view.__struct_fields__}, follow_up_after_days=after_days
        )
        items = await follow_ups_at(db, principal.programme_id, params)
        return FollowUpsOut(as_of=view.as_of, global_position=position, items=items)

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
        params, position, _ = await _view(db, request.user, as_of, cohort=cohort, counselor_id=counselor_id)
        funnel = await programme_funnel_at(db, request.user.programme_id, params)
        return FunnelOut(as_of=params.as_of, global_position=position, funnel=funnel)
