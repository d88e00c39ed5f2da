"""ASGI factory for servers: ``uvicorn --factory services.api.asgi:build``."""

from litestar import Litestar

from infra.settings import Settings
from services.api.app import create_app


def build() -> Litestar:
    """The application configured from the process environment."""
    return create_app(Settings.from_env())
