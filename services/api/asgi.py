"""ASGI factory for servers: ``uvicorn --factory services.api.asgi:build``."""

import gc

from litestar import Litestar

from infra.settings import Settings
from services.api.app import create_app
from services.observability import configure_logging


def build() -> Litestar:
    """The application configured from the process environment (each uvicorn worker process calls this).

    What exists once the application is built (modules, routes, schemas: about 100,000
    objects) lives as long as the process, so it is moved out of the garbage collector's
    view (``gc.freeze``). Otherwise every full collection walks all of it again: measured
    on a counselor's follow-up queue at 1M events, those collections were the requests
    that took 45–60 ms instead of 14 (bench/RESULTS.md).
    """
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    return app
