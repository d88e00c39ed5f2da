"""The admin page: the programme's users and their roles, and the programme's settings."""

from __future__ import annotations

import uuid
import zoneinfo
from functools import cache
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Template

from infra.accounts import (
    LastAdmin,
    ProgrammeSettingsChange,
    change_programme_settings,
    change_role,
    create_user,
    list_users,
)
from infra.db import TenantConnection
from services.api.accounts_routes import Email, Password
from services.api.pages.site import PAGES, page
from services.api.problems import InvalidRequest, NotFound
from services.api.reading_routes import programme_settings
from services.api.security import Principal, roles

Role = Literal["admin", "staff", "counselor", "funder"]
DONE = {
    "user": "The user was added.",
    "role": "The role was changed.",
    "settings": "The settings were saved.",
}


@cache
def time_zones() -> tuple[str, ...]:
    """Every IANA time zone name this machine knows, sorted."""
    return tuple(sorted(zoneinfo.available_timezones()))


class NewUserForm(msgspec.Struct, frozen=True, kw_only=True):
    """A new user, checked as ``POST /v1/users`` checks it (the form's CSRF field beside it is not part of it)."""

    email: Email
    role: Role
    password: Password


class RoleForm(msgspec.Struct, frozen=True):
    """A user's new role."""

    role: Role


class SettingsForm(msgspec.Struct, frozen=True, kw_only=True):
    """The programme settings form (reports.md: time zone, suppression threshold, follow-up interval)."""

    time_zone: Annotated[str, msgspec.Meta(max_length=64)]
    suppress_below: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    follow_up_after_days: Annotated[int, msgspec.Meta(ge=1, le=365)]


Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class AdminController(Controller):
    """``/app/admin`` and its forms."""

    include_in_schema = False
    opt = roles("admin")

    @get("/admin")
    async def admin(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        done: Annotated[str | None, QueryParameter()] = None,
    ) -> Template:
        principal = request.user
        programme = await programme_settings(db, principal.programme_id)
        return page(
            request,
            "admin.html",
            title="Admin",
            users=await list_users(db, principal.programme_id),
            me=principal.user_id,
            roles=("admin", "staff", "counselor", "funder"),
            time_zone=str(programme.time_zone),
            time_zones=time_zones(),
            suppress_below=programme.suppress_below,
            follow_up_after_days=programme.follow_up_after_days,
            done=DONE.get(done or ""),
        )

    @post("/admin/users", status_code=303)
    async def add_user(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        data: Annotated[NewUserForm, Form],
    ) -> Redirect:
        await create_user(
            db, programme_id=request.user.programme_id, email=data.email, role=data.role, password=data.password
        )
        return Redirect(f"{PAGES}/admin?done=user", status_code=303)

    @post("/admin/users/{user_id:uuid}/role", status_code=303)
    async def change_user_role(
        self,
        user_id: FromPath[uuid.UUID],
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        data: Annotated[RoleForm, Form],
    ) -> Redirect:
        try:
            changed = await change_role(db, request.user.programme_id, user_id, data.role)
        except LastAdmin:
            raise InvalidRequest("role", "the programme needs at least one admin", status=409) from None
        if not changed:
            raise NotFound()
        return Redirect(f"{PAGES}/admin?done=role", status_code=303)

    @post("/admin/settings", status_code=303)
    async def change_settings(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        data: Annotated[SettingsForm, Form],
    ) -> Redirect:
        if data.time_zone not in time_zones():
            raise InvalidRequest("time_zone", f"{data.time_zone!r} is not a time zone this server knows")
        await change_programme_settings(
            db,
            request.user.programme_id,
            ProgrammeSettingsChange(
                time_zone=data.time_zone,
                suppress_below=data.suppress_below,
                follow_up_after_days=data.follow_up_after_days,
            ),
        )
        return Redirect(f"{PAGES}/admin?done=settings", status_code=303)
