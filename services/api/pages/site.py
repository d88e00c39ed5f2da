"""What every page shares: the template engine and its filters, the frame (navigation by role), error pages."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment
from litestar import Request, Response
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from markupsafe import Markup

from domain.events import CHANNELS, HIRE_SOURCES
from services.api.problems import Problem, problem_for
from services.api.security import PAGES_PATH, Principal

PAGES: Final = PAGES_PATH
"""Where the pages live; their cookies are limited to this path, so the JSON API never receives them."""
HERE: Final = Path(__file__).parent
STATIC: Final = HERE / "static"
TEMPLATES: Final = HERE / "templates"

# (label, path, roles) of the navigation, in order.
_NAV: Final = (
    ("Overview", "/overview", frozenset({"admin", "staff"})),
    ("Follow-ups", "/follow-ups", frozenset({"admin", "staff", "counselor"})),
    ("Funder report", "/report", frozenset({"admin", "staff", "funder"})),
    ("Admin", "/admin", frozenset({"admin"})),
)
LANDING: Final = {"admin": "/overview", "staff": "/overview", "counselor": "/follow-ups", "funder": "/report"}
"""Where each role lands after logging in."""


def landing(principal: Principal) -> str:
    """The first page of this user's role."""
    return f"{PAGES}{LANDING[principal.role]}"


def navigation(principal: Principal | None, path: str) -> list[dict[str, Any]]:
    """The links this user's role may follow, the current one marked."""
    if principal is None:
        return []
    return [
        {"label": label, "href": f"{PAGES}{suffix}", "current": path.startswith(f"{PAGES}{suffix}")}
        for label, suffix, allowed in _NAV
        if principal.role in allowed
    ]


def page(request: Request[Any, Any, Any], template: str, *, title: str, status: int = 200, **context: Any) -> Template:
    """A page in the common frame: the title, the user's role and navigation, then the template's own context."""
    user = request.scope.get("user")
    principal = user if isinstance(user, Principal) else None
    return Template(
        template_name=template,
        context={
            "title": title,
            "user": principal,
            "nav": navigation(principal, request.url.path),
            **context,
        },
        status_code=status,
    )


# -- Formatting figures ---------------------------------------------------------------------------------------------

SUPPRESSED: Final = "suppressed"
"""What a suppressed cell reads as, everywhere: never 0, never blank."""


def _number(value: float, kind: str) -> str:
    match kind:
        case "rate":
            return f"{value * 100:.1f}%"
        case "money":
            return f"${value:,.2f}"
        case "days" | "ratio" | "mean":
            return f"{value:,.1f}"
        case _:
            return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def cell_text(cell: Mapping[str, Any] | None, kind: str = "count") -> str:
    """A figure as text: "suppressed" for a suppressed cell, "n/a" for none (a rate over nobody), else the number."""
    if cell is None:
        return "n/a"
    if cell.get("suppressed"):
        return SUPPRESSED
    value = cell.get("value")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return _number(value, kind)


def cell_td(cell: Mapping[str, Any] | None, kind: str = "count") -> Markup:
    """A figure as a table cell carrying its exact value in ``data-value`` (the charts read it; tests compare it)."""
    text = cell_text(cell, kind)
    if cell is not None and cell.get("suppressed"):
        return Markup('<td class="suppressed" data-suppressed="true">{}</td>').format(text)
    value = None if cell is None else cell.get("value")
    if value is None:
        return Markup('<td class="none" data-value="">{}</td>').format(text)
    return Markup('<td data-value="{}" data-kind="{}">{}</td>').format(repr(float(value)), kind, text)


def plain_cell(value: float | int | None) -> dict[str, Any]:
    """A figure that is never suppressed (counts of the staff views), shaped like a report cell."""
    return {"value": value, "suppressed": False}


_SPELLED: Final = {"linkedin": "LinkedIn"}


def label(value: object) -> str:
    """An enum value as a person reads it: ``online_application`` → "Online application"."""
    if str(value) in _SPELLED:
        return _SPELLED[str(value)]
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


def day(value: dt.date | dt.datetime | str | None) -> str:
    """A date as "7 Dec 2026"."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return f"{value.day} {value:%b %Y}"


def _configure(engine: JinjaTemplateEngine) -> None:
    environment: Environment = engine.engine
    environment.filters.update(cell=cell_td, cell_text=cell_text, label=label, day=day)
    environment.globals.update(
        PAGES=PAGES, SUPPRESSED=SUPPRESSED, plain_cell=plain_cell, CHANNELS=CHANNELS, HIRE_SOURCES=HIRE_SOURCES
    )
    environment.trim_blocks = True
    environment.lstrip_blocks = True


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja2 with autoescaping (Litestar's default), the pages' templates and filters."""
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_configure)


# -- Errors as pages ---------------------------------------------------------------------------------------------------


def wants_json(request: Request[Any, Any, Any]) -> bool:
    """Whether the caller is the pages' own script (it asks for JSON), not a person's browser."""
    return "application/json" in request.headers.get("accept", "") or request.content_type[0] == "application/json"


def page_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any error of a page: the API's problem details (one mapping of errors) as a page, or as JSON to scripts."""
    answer = problem_for(request, exc)
    if wants_json(request):
        return answer
    problem = answer.content
    assert isinstance(problem, Problem)
    template = page(
        request,
        "error.html",
        title=problem.title,
        status=problem.status,
        problem=problem,
    )
    template.headers.update({k: v for k, v in answer.headers.items() if k.lower() == "retry-after"})
    return template
