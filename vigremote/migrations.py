"""The data folder's schema version and the ordered steps that bring an older folder up to it.

The version is SQLite's `user_version`. A new data folder is made at the newest version (the
stores create their tables as they are today); an existing one at an older version is first
backed up (the database, sealed: backups/), then each step runs in order, and the version is
written after each, so a step interrupted by a crash runs again at the next start (every step
may be run twice). A folder newer than this code is refused: an older vigremote must not write
over what it does not understand.

Version 1 is the layout of vigremote before encryption at rest (including what earlier
versions' stores added by themselves: storage.py, audit.py, consent/store.py).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigremote.config import ensure_private_dir
from vigremote.storage import checkpoint
from vigremote.vault.files import Vault
from vigremote.vault.keyring import Keyring, is_sealed_text
from vigremote.vault.sealed import SealedFile, is_sealed

log = logging.getLogger(__name__)

# Backups are sealed with the key of this pseudo-case (never a real case id: those are longer).
BACKUP_KEY_OWNER = "~backups"


class TooNew(Exception):
    """The data folder was written by a newer vigremote."""


@dataclass(frozen=True)
class Migration:
    version: int
    what: str
    run: Callable[[sqlite3.Connection, Vault], None]


# Free-text columns that can name or describe a family, and how each row finds its case.
SEALED_COLUMNS = (
    ("cases", "label", "id", "SELECT id, label, id FROM cases"),
    ("clips", "title", "id", "SELECT id, title, case_id FROM clips"),
    ("clips", "notes", "id", "SELECT id, notes, case_id FROM clips"),
    ("stills", "caption", "id", "SELECT id, caption, case_id FROM stills"),
    ("case_consents", "note", "id", "SELECT id, note, case_id FROM case_consents"),
    (
        "recording_marks",
        "note",
        "id",
        "SELECT m.id, m.note, r.case_id FROM recording_marks m"
        " JOIN recordings r ON r.id = m.recording_id",
    ),
)


def _seal_text_columns(db: sqlite3.Connection, vault: Vault) -> None:
    """Seal every free-text value still in plain form (a second run finds none)."""
    keyring = vault.keyring
    for table, column, key, select in SEALED_COLUMNS:
        if not _has_table(db, table):
            continue
        for row_id, value, case_id in db.execute(select).fetchall():
            if value is None or is_sealed_text(str(value)):
                continue
            db.execute(
                f"UPDATE {table} SET {column} = ? WHERE {key} = ?",
                (keyring.seal_text(str(case_id), str(value)), row_id),
            )


def _seal_media_files(db: sqlite3.Connection, vault: Vault) -> None:
    """Seal every file in the case folders that is still in plain form, one at a time: each
    is written sealed beside itself, then put in its place (a crash leaves either)."""
    cases = vault.cases_dir
    if not cases.exists():
        return
    for path in sorted(p for p in cases.rglob("*") if p.is_file()):
        if path.name.endswith((".part", ".key")) or is_sealed(path):
            continue
        if path.name.endswith(".sealing"):
            path.unlink()  # an earlier run died while sealing it: the plain file is still there
            continue
        tmp = path.with_name(path.name + ".sealing")
        with open(path, "rb") as plain, vault.create_replacing(tmp) as sealed:
            while piece := plain.read(1 << 20):
                sealed.write(piece)
        tmp.replace(path)
        # Caches keyed on the file's size and time are rebuilt from the sealed file.
        path.with_name(path.name + ".key").unlink(missing_ok=True)


def _seal_everything(db: sqlite3.Connection, vault: Vault) -> None:
    _seal_text_columns(db, vault)
    _seal_media_files(db, vault)


def _retention_columns(db: sqlite3.Connection, vault: Vault) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(cases)")}
    for column, kind in (("closed_at", "REAL"), ("legal_hold", "TEXT")):
        if column not in columns:
            db.execute(f"ALTER TABLE cases ADD COLUMN {column} {kind}")


MIGRATIONS = (
    Migration(
        2,
        "encryption at rest: case keys; free text and every media file sealed",
        _seal_everything,
    ),
    Migration(3, "retention: cases can be closed and put on legal hold", _retention_columns),
)
LATEST = max(m.version for m in MIGRATIONS)


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def is_new(db: sqlite3.Connection) -> bool:
    """A database no vigremote has written to yet (no users table)."""
    return not _has_table(db, "users")


def stamp_new(db: sqlite3.Connection) -> None:
    db.execute(f"PRAGMA user_version = {LATEST}")


def migrate(db: sqlite3.Connection, vault: Vault, data_dir: Path) -> list[str]:
    """Bring an existing data folder up to LATEST; returns what was done. Call before the
    stores are used (they read the newest layout)."""
    current = version(db)
    if current > LATEST:
        raise TooNew(
            f"the data folder is at schema version {current}; this vigremote knows up to "
            f"{LATEST}: upgrade vigremote"
        )
    pending = [m for m in MIGRATIONS if m.version > max(current, 1)]
    if not pending:
        if current < LATEST:
            stamp_new(db)
        return []
    backup = backup_database(db, vault.keyring, data_dir, current)
    done = [f"backup: {backup.name}"]
    for migration in pending:
        log.warning(
            "migrating the data folder to version %d: %s", migration.version, migration.what
        )
        db.execute("BEGIN IMMEDIATE")
        try:
            migration.run(db, vault)
            db.execute(f"PRAGMA user_version = {migration.version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        done.append(f"version {migration.version}: {migration.what}")
    # What was plain before lingers in free pages and the write-ahead log: rewrite both.
    checkpoint(db)
    db.execute("VACUUM")
    checkpoint(db)
    return done


def backup_database(db: sqlite3.Connection, keyring: Keyring, data_dir: Path, at: int) -> Path:
    """A consistent copy of the database (SQLite's backup API), sealed, in <data>/backups.
    `vigremote backup unseal` gives back the SQLite file."""
    folder = ensure_private_dir(data_dir / "backups")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{os.getpid()}"
    plain = folder / f"vigremote-{stamp}-v{at}.sqlite3.part"
    target = folder / f"vigremote-{stamp}-v{at}.sqlite3.sealed"
    copy = sqlite3.connect(plain)
    try:
        db.backup(copy)
    finally:
        copy.close()
    try:
        key_id, key = keyring.case_key(BACKUP_KEY_OWNER)
        tmp = target.with_name(target.name + ".part")
        tmp.unlink(missing_ok=True)
        with open(plain, "rb") as source, SealedFile.create(tmp, key_id, key) as sealed:
            while piece := source.read(1 << 20):
                sealed.write(piece)
        tmp.replace(target)
    finally:
        plain.unlink(missing_ok=True)
    (folder / "README.json").write_text(
        json.dumps({"how_to_restore": "vigremote backup unseal FILE --out vigremote.sqlite3"})
    )
    return target


def unseal_backup(keyring: Keyring, sealed: Path, out: Path) -> None:
    with SealedFile.open(sealed, keyring.lookup) as source, open(out, "xb") as plain:
        while piece := source.read(1 << 20):
            plain.write(piece)
