"""The web dashboards: one static page, public because it holds no data (it asks the JSON API with the user's token)."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

from litestar import Controller, Response, get
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import MediaType
from litestar.types import Message, Scope

from services.api.security import public

DASHBOARD_PATH = "/dashboards"
_INLINE = {"script": re.compile(r"<script>(.*?)</script>", re.S), "style": re.compile(r"<style>(.*?)</style>", re.S)}


class DashboardPage:
    """The page's bytes and the Content-Security-Policy that lets exactly its own inline script and style run."""

    def __init__(self, html: bytes) -> None:
        self.html = html
        text = html.decode("utf-8")
        allowed = {kind: " ".join(_hash(block) for block in pattern.findall(text)) for kind, pattern in _INLINE.items()}
        # Inline code is allowed by its hash, not by 'unsafe-inline': an injected script would not run.
        self.csp = (
            f"default-src 'none'; script-src 'self' {allowed['script']}; style-src 'self' {allowed['style']}; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )


def _hash(block: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode() + "'"


@cache
def dashboard_page() -> DashboardPage:
    """The page shipped in ``services/api/static`` (read once)."""
    return DashboardPage((resources.files("services.api") / "static" / "dashboard.html").read_bytes())


async def send_dashboard_csp(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook, after the API's: the page gets its own policy instead of the API's.

    The API's policy (``default-src 'none'``) would stop the page's script; this
    one allows only the page's own inline script and style and calls to 'self'.
    """
    if message["type"] == "http.response.start" and scope["path"] == DASHBOARD_PATH:
        MutableScopeHeaders.from_message(message)["content-security-policy"] = dashboard_page().csp


class DashboardController(Controller):
    """``/dashboards``: the page that draws the dashboards from the JSON API."""

    tags = ("web",)

    @get(
        DASHBOARD_PATH,
        opt=public(),
        operation_id="dashboardsPage",
        summary="The web dashboards (an HTML page; its data comes from the JSON API)",
        security=[],
        include_in_schema=False,
        sync_to_thread=False,
    )
    def page(self) -> Response[bytes]:
        page = dashboard_page()
        return Response(
            page.html,
            media_type=MediaType.HTML,
            headers={"content-security-policy": page.csp},
        )
