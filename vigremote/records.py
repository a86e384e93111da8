"""Open the data folder's durable records: the database, brought up to date, and its stores.

The server and every command open the folder the same way: the database (made at the newest
schema version if new, migrated if older: migrations.py), the case keys (vault/keyring.py),
and the domain stores sharing one SQLite connection.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from vigremote.audit import AUDIT_SEAL_KEY
from vigremote.clips.store import ClipStore
from vigremote.config import Config, ensure_private_dir
from vigremote.consent.store import ConsentStore
from vigremote.keys import derive
from vigremote.migrations import migrate, stamp_new
from vigremote.recording.store import RecordingStore
from vigremote.review.store import ReviewStore
from vigremote.storage import Store
from vigremote.supervision.ratings import RatingsStore
from vigremote.supervision.store import SupervisionStore
from vigremote.vault.files import Vault

log = logging.getLogger(__name__)


@dataclass
class Records:
    store: Store
    vault: Vault
    consents: ConsentStore
    recordings: RecordingStore
    clips: ClipStore
    reviews: ReviewStore
    supervision: SupervisionStore
    ratings: RatingsStore
    migrated: list[str] = field(default_factory=list)  # what opening the folder changed

    def close(self) -> None:
        self.store.close()


@contextmanager
def _opening(data_dir: Path) -> Iterator[None]:
    """One process at a time brings a data folder up to date (several commands, or a command
    and a server, may start together): the others wait, then find nothing left to do."""
    with open(data_dir / ".opening.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def open_records(config: Config) -> Records:
    ensure_private_dir(config.data_dir)
    with _opening(config.data_dir):
        return _open(config)


def _open(config: Config) -> Records:
    new = not config.db_path.exists()
    store = Store(
        config.db_path,
        audit_key=derive(config.master_key, AUDIT_SEAL_KEY),
        master_key=config.master_key,
    )
    try:
        records = Records(
            store,
            Vault(config.data_dir, store.keyring),
            ConsentStore(store.db, store.keyring),
            RecordingStore(store.db, store.keyring),
            ClipStore(store.db, store.keyring),
            ReviewStore(store.db),
            SupervisionStore(store.db, store.keyring),
            RatingsStore(store.db),
        )
        if new:
            stamp_new(store.db)
        else:
            records.migrated = migrate(store.db, records.vault, config.data_dir)
            for line in records.migrated:
                log.warning("data folder: %s", line)
    except BaseException:
        store.close()
        raise
    return records
