"""Background jobs of ``lumbung serve``: a thread that runs a job's ``tick`` every few
seconds until the server stops. Each job (peer sync, CKAN harvests) says what one tick
does; the leases it takes in the database keep replicas from doing the same work twice."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class PeriodicWorker:
    """Calls :meth:`tick` every ``interval`` seconds on a daemon thread named ``name``."""

    def __init__(self, name: str, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def tick(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # keep the worker alive; the next tick tries again
                log.exception("%s tick failed", self._thread.name)
