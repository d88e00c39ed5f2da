"""ASGI factory for servers: ``uvicorn --factory services.api.asgi:build``."""

from litestar import Litestar

from infra.settings import Settings
from services import heap
from services.api.app import create_app
from services.observability import configure_logging


def build() -> Litestar:
    """The application configured from the process environment (each uvicorn worker process calls this).

    What exists once the application is built lives as long as the process: the garbage
    collector is set for that (``services.heap.settle``).
    """
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings)
    heap.settle()
    return app
