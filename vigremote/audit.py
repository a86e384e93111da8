"""A tamper-evident audit trail: hash-chained entries, each sealed with a keyed MAC.

The audit answers "who has seen this family's films" in a data protection review or in court,
so an edit made directly in the SQLite file must show. Each entry holds the hash of the entry
before it and its own hash over (id, time, who, what, which record, details, previous hash):
changing, removing or inserting an entry breaks the chain from there on. Whoever can write the
file could recompute the whole chain, so each hash is also sealed with an HMAC keyed from the
master key, which lives outside the data folder (keys.py): a recomputed entry has no valid seal.

Entries older than the organisation keeps them (retention) are pruned from the start of the
trail; the last pruned entry's id and hash stay behind as a sealed anchor (`audit_anchor`), so
the check goes on from there and a removal that is not a pruning still shows.

What a MAC cannot show is the newest entries cut off the end; so the server logs the head of
the trail (entry id and hash) now and then and when it stops (`HEAD_EVERY`, `HEAD_AFTER_S`),
into its own log, outside the data folder. `vigremote audit verify` walks the trail, names the
first entry that was altered, removed or inserted, and prints the head to compare with the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

GENESIS = "0" * 64
AUDIT_SEAL_KEY = "audit-seal"  # the use the sealing key is derived for (keys.derive)
HEAD_EVERY = 64
HEAD_AFTER_S = 60.0


def entry_hash(
    prev_hash: str, entry_id: int, at: float, actor: str, action: str, obj: str, detail: str
) -> str:
    """SHA-256 over the entry's fields in a fixed, unambiguous encoding (a JSON list)."""
    fields = [prev_hash, entry_id, at, actor, action, obj, detail]
    canonical = json.dumps(fields, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def seal(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


class AuditTrail:
    """Appends chained, sealed entries to the `audit` table (made by storage.Store)."""

    def __init__(self, db: sqlite3.Connection, seal_key: bytes | None) -> None:
        self._db = db
        self._key = seal_key  # None: a bare Store in a test or a tool, chained but not sealed
        self._lock = threading.Lock()  # the chain's order is the order of appends
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(audit)")}
        for column in ("prev_hash", "hash", "seal"):
            if column not in columns:
                self._db.execute(f"ALTER TABLE audit ADD COLUMN {column} TEXT")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS audit_anchor (id INTEGER PRIMARY KEY CHECK (id = 1),"
            " last_id INTEGER NOT NULL, last_hash TEXT NOT NULL, seal TEXT)"
        )
        self._chain_older_entries()
        self._since_head, self._head_logged_at = 0, time.monotonic()

    def append(self, actor: str, action: str, obj: str, detail: dict[str, Any]) -> int:
        detail_text = json.dumps(detail, sort_keys=True)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                prev = self._last_hash()
                at = time.time()
                cursor = self._db.execute(
                    "INSERT INTO audit (at, actor, action, object, detail, prev_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (at, actor, action, obj, detail_text, prev),
                )
                entry_id = int(cursor.lastrowid or 0)
                digest = entry_hash(prev, entry_id, at, actor, action, obj, detail_text)
                self._db.execute(
                    "UPDATE audit SET hash = ?, seal = ? WHERE id = ?",
                    (digest, self._seal(digest), entry_id),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._since_head += 1
            if self._since_head >= HEAD_EVERY or (
                time.monotonic() - self._head_logged_at >= HEAD_AFTER_S
            ):
                self._log_head(entry_id, digest)
        return entry_id

    def log_head(self) -> None:
        """Write the newest entry's id and hash to the log (the server does so when it stops)."""
        with self._lock:
            row = self._db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            if row is not None:
                self._log_head(int(row[0]), str(row[1]))

    def _log_head(self, entry_id: int, digest: str) -> None:
        self._since_head, self._head_logged_at = 0, time.monotonic()
        log.info("audit head: entry %d hash %s", entry_id, digest)

    def _seal(self, digest: str) -> str | None:
        return None if self._key is None else seal(self._key, digest)

    def _last_hash(self) -> str:
        row = self._db.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        if row is not None:
            return str(row[0])
        anchor = self._db.execute("SELECT last_hash FROM audit_anchor").fetchone()
        return GENESIS if anchor is None else str(anchor[0])

    def prune(self, before: float) -> int:
        """Remove the entries older than `before` (from the start of the trail), leaving a
        sealed anchor where the trail now begins; returns how many went."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, hash FROM audit WHERE at < ? ORDER BY id DESC LIMIT 1", (before,)
            ).fetchone()
            if row is None:
                return 0
            last_id, last_hash = int(row[0]), str(row[1])
            self._db.execute("BEGIN IMMEDIATE")
            try:
                count = self._db.execute("DELETE FROM audit WHERE id <= ?", (last_id,)).rowcount
                self._db.execute(
                    "INSERT OR REPLACE INTO audit_anchor VALUES (1, ?, ?, ?)",
                    (last_id, last_hash, self._seal(_anchor_text(last_id, last_hash))),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return int(count)

    def _chain_older_entries(self) -> None:
        """Entries written before the chain existed are chained and sealed once, in order."""
        rows = self._db.execute(
            "SELECT id, at, actor, action, object, detail FROM audit WHERE hash IS NULL ORDER BY id"
        ).fetchall()
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            before = self._db.execute(
                "SELECT hash FROM audit WHERE id < ? ORDER BY id DESC LIMIT 1", (rows[0][0],)
            ).fetchone()
            digest = GENESIS if before is None else str(before[0])
            for entry_id, at, actor, action, obj, detail in rows:
                prev, digest = digest, entry_hash(digest, entry_id, at, actor, action, obj, detail)
                self._db.execute(
                    "UPDATE audit SET prev_hash = ?, hash = ?, seal = ? WHERE id = ?",
                    (prev, digest, self._seal(digest), entry_id),
                )
            self._db.execute("COMMIT")


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: `problem` names the first broken entry, or is None."""

    entries: int
    head_id: int | None
    head_hash: str | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _anchor_text(last_id: int, last_hash: str) -> str:
    return f"anchor:{last_id}:{last_hash}"


def verify(db: sqlite3.Connection, seal_key: bytes) -> Verdict:
    """Walk the whole trail in order: ids without gaps, chain links, hashes, seals."""
    rows = db.execute(
        "SELECT id, at, actor, action, object, detail, prev_hash, hash, seal FROM audit ORDER BY id"
    ).fetchall()
    head_id, head_hash = (int(rows[-1][0]), str(rows[-1][7])) if rows else (None, None)
    anchor = None
    has_anchor_table = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_anchor'"
    ).fetchone()
    if has_anchor_table:
        anchor = db.execute("SELECT last_id, last_hash, seal FROM audit_anchor").fetchone()
    if anchor is not None:
        last_id, last_hash, sealed = int(anchor[0]), str(anchor[1]), anchor[2]
        if sealed is None or not hmac.compare_digest(
            seal(seal_key, _anchor_text(last_id, last_hash)), sealed
        ):
            problem = "the anchor where pruned entries ended was altered"
            return Verdict(len(rows), head_id, head_hash, problem)
        start = (last_hash, last_id + 1)
    else:
        start = (GENESIS, 1)
    return Verdict(len(rows), head_id, head_hash, _first_problem(rows, seal_key, start))


def _first_problem(rows: list[Any], key: bytes, start: tuple[str, int]) -> str | None:
    expected_prev, expected_id = start
    for entry_id, at, actor, action, obj, detail, prev_hash, digest, sealed in rows:
        if entry_id != expected_id:
            return f"entry {expected_id} was removed (the trail jumps to entry {entry_id})"
        if prev_hash != expected_prev:
            return f"entry {entry_id} was inserted, or the entry before it was altered"
        if entry_hash(prev_hash, entry_id, at, actor, action, obj, detail) != digest:
            return f"entry {entry_id} was altered"
        if sealed is None or not hmac.compare_digest(seal(key, digest), sealed):
            return (
                f"entry {entry_id} was altered or inserted (its seal does not match: the chain"
                " was recomputed, or the master key is not the one it was written with)"
            )
        expected_prev, expected_id = digest, entry_id + 1
    return None


def reseal(db: sqlite3.Connection, old_key: bytes, new_key: bytes) -> int:
    """Seal every entry (and the anchor) with `new_key`, after checking them with `old_key`
    (a broken trail is never re-sealed: that would hide the tampering). Inside the caller's
    transaction; returns how many entries."""
    verdict = verify(db, old_key)
    if not verdict.ok:
        raise ValueError(f"the audit trail does not verify: {verdict.problem}")
    rows = db.execute("SELECT id, hash FROM audit").fetchall()
    for entry_id, digest in rows:
        db.execute("UPDATE audit SET seal = ? WHERE id = ?", (seal(new_key, digest), entry_id))
    anchor = db.execute("SELECT last_id, last_hash FROM audit_anchor").fetchone()
    if anchor is not None:
        db.execute(
            "UPDATE audit_anchor SET seal = ?",
            (seal(new_key, _anchor_text(int(anchor[0]), str(anchor[1]))),),
        )
    return len(rows)
