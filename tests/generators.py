"""Random but valid programmes for property and load tests; the generators live in ``services.demo``."""

from services.demo import CHANNELS, PURPOSES, SOURCES, START, demo_log, programme_log

__all__ = ["CHANNELS", "PURPOSES", "SOURCES", "START", "demo_log", "programme_log"]
