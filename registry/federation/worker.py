"""The background worker of ``lumbung serve``: pulls every peer each
``LUMBUNG_SYNC_INTERVAL`` seconds (sooner when a peer notifies), expires partnerships
past their end date and drains the outbox. Every worker process runs one; the
per-peer database lease makes sure a given peer is synced by one of them at a time."""

from __future__ import annotations

import logging

from registry.background import PeriodicWorker
from registry.db import Bind
from registry.federation import outbox
from registry.federation.lease import lease_holder
from registry.federation.sync import sync_all
from registry.oauth.keys import KeyStore
from registry.settings import Settings
from registry.sharing import service as sharing

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0


class SyncWorker(PeriodicWorker):
    def __init__(self, bind: Bind, settings: Settings, keys: KeyStore) -> None:
        super().__init__("lumbung-sync", TICK_SECONDS)
        self.bind = bind
        self.settings = settings
        self.keys = keys
        self.holder = lease_holder()

    def tick(self) -> None:
        sharing.expire_overdue(self.bind)
        outbox.drain(self.bind, self.settings, self.keys)
        for result in sync_all(self.bind, self.settings, self.keys, due_only=True):
            if result.error:
                log.warning("sync of %s failed: %s", result.node_id, result.error)
