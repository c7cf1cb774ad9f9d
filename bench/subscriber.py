"""The PostgreSQL subscription path: eventsourcing's ``ProjectionRunner`` (LISTEN/NOTIFY)
driving closeloop's own projection, until SIGTERM.

``python -m bench.subscriber`` with ``CLOSELOOP_DATABASE_URL`` naming a PostgreSQL
database. The projector ``closeloop`` runs itself polls, on both databases; this is the
subscription the design names for PostgreSQL, measured under the same load.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from eventsourcing.projection import ProjectionRunner

from closeloop.keys import keyring
from closeloop.settings import Settings
from closeloop.store import RequestStore, store_env
from projections.projection import RequestProjection
from projections.views import RequestViews


def main() -> int:
    settings = Settings.from_env()
    if settings.is_sqlite:
        print("the subscription runner needs PostgreSQL", file=sys.stderr)
        return 2
    RequestViews.connect(settings.database_url).close()  # the view tables, created
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    keys = keyring(settings)
    with ProjectionRunner(
        application_class=RequestStore,
        projection_class=RequestProjection,
        view_class=RequestViews.sealing_with(keys),
        env=store_env(settings.database_url, keys),
    ) as runner:
        print("subscription projector up", flush=True)
        while not stop.is_set() and not runner.is_interrupted.is_set():
            stop.wait(0.5)
        runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
