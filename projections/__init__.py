"""Read models filled from the event store's notification log, and the queries on them.

- :mod:`projections.tables`: the ``view_*`` tables (``metadata``, :func:`create_tables`).
- :mod:`projections.views`: :class:`RequestViews`, writing rows and tracking together.
- :mod:`projections.projection`: :class:`RequestProjection`, events to view rows.
- :mod:`projections.runner`: :class:`Projector`, following the log by polling.
- :mod:`projections.rebuild`: :func:`rebuild`, refilling the views from the whole log.
- :mod:`projections.queries` and :mod:`projections.stats`: what the pages read.
- :mod:`projections.hotspots`: the hot spots, counts by category and grid and the repeats.
"""

from projections.projection import RequestProjection
from projections.rebuild import rebuild
from projections.runner import Batch, Projector
from projections.tables import create_tables, metadata
from projections.views import RequestViews, ViewsOutOfStep

__all__ = [
    "Batch",
    "Projector",
    "RequestProjection",
    "RequestViews",
    "ViewsOutOfStep",
    "create_tables",
    "metadata",
    "rebuild",
]
