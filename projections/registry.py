"""Every projection the worker keeps, by name, with its live table (or the prefix of its live tables)."""

from __future__ import annotations

from typing import Final

from projections import read_models
from projections.runner import Projection

PROJECTIONS: Final[dict[str, tuple[Projection, str]]] = {
    read_models.NAME: (read_models.ReadModelsProjection(), read_models.LIVE_PREFIX),
}
