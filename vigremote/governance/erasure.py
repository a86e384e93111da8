"""Erase a family's case: every record, file, cache and key of it, leaving an audit tombstone.

Order matters for "nothing recoverable": open calls of the case are ended first (no recorder
is writing), then the case's key is deleted with its rows in one transaction (from then on no
copy of any file or text of the case can be opened, wherever it lies), then the files go, and
last SQLite's write-ahead log is checkpointed and truncated (`secure_delete` is on, so the
freed pages were overwritten, not just unlinked). The audit trail keeps its entries, which hold
only random ids, and gains a tombstone saying who erased the case, when, and how much.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass

from aiohttp import web

from vigremote.live.events import CaseErased
from vigremote.paths import case_dir
from vigremote.rooms import end_room
from vigremote.state import CONFIG, LIVE, MEDIA_LOCKS, RECORDINGS, ROOMS, STORE
from vigremote.storage import checkpoint


class OnLegalHold(Exception):
    """The case is on legal hold: nothing of it may be deleted until the hold is lifted."""


class StillLive(Exception):
    """A room of the case would not close in time (on some process): nothing was erased."""


ROOMS_GONE_WITHIN_S = 10.0


@dataclass(frozen=True)
class Erased:
    sessions: int
    recordings: int
    clips: int
    stills: int

    def to_json(self) -> dict[str, int]:
        return {
            "sessions": self.sessions,
            "recordings": self.recordings,
            "clips": self.clips,
            "stills": self.stills,
        }


# Rows of a case, children before parents; each query takes the case id.
_ROWS = (
    ("review_items", "session_id IN (SELECT id FROM sessions WHERE case_id = ?)"),
    ("family_codes", "session_id IN (SELECT id FROM sessions WHERE case_id = ?)"),
    (
        "recording_marks",
        "recording_id IN (SELECT id FROM recordings WHERE case_id = ?)",
    ),
    (
        "recording_segments",
        "recording_id IN (SELECT id FROM recordings WHERE case_id = ?)",
    ),
    ("family_copies", "case_id = ?"),
    ("share_comments", "share_id IN (SELECT id FROM shares WHERE case_id = ?)"),
    ("shares", "case_id = ?"),
    ("clips", "case_id = ?"),
    ("stills", "case_id = ?"),
    ("recordings", "case_id = ?"),
    ("case_consents", "case_id = ?"),
    ("sessions", "case_id = ?"),
    ("cases", "id = ?"),
)


async def on_case_erased(app: web.Application, event: CaseErased) -> None:
    """The case's rooms here end, and their recorders finish their files before the files go."""
    for room in app[ROOMS].of_case(event.case_id):
        await end_room(room)
        await room.close()


async def _until_no_room_is_live(app: web.Application, session_ids: list[str]) -> None:
    """Wait for the case's rooms to be given up on every process (their people hung up)."""
    live = app[LIVE]
    for _ in range(int(ROOMS_GONE_WITHIN_S / 0.1)):
        owners = [await live.owner(session_id) for session_id in session_ids]
        if not any(owners):
            return
        await asyncio.sleep(0.1)
    raise StillLive("a session of this case is still running: try again in a moment")


async def erase_case(app: web.Application, case_id: str, actor: str, how: str) -> Erased:
    """Erase the case now (OnLegalHold if it is held). `how` says by which route (audited)."""
    store = app[STORE]
    case = store.case(case_id)
    if case.legal_hold is not None:
        raise OnLegalHold("the case is on legal hold: lift the hold before erasing it")
    await app[LIVE].publish(CaseErased(case_id))
    await _until_no_room_is_live(app, [s.id for s in store.sessions_of(case_id)])
    db = store.db
    counts = Erased(
        *(
            int(
                db.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE case_id = ?", (case_id,)
                ).fetchone()[0]
            )
            for table in ("sessions", "recordings", "clips", "stills")
        )
    )
    recording_ids = [r.id for r in app[RECORDINGS].of_case(case_id)]
    db.execute("BEGIN IMMEDIATE")
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, where in _ROWS:
            if table in tables:  # some are made on first use (family_codes)
                db.execute(f"DELETE FROM {table} WHERE {where}", (case_id,))
        store.keyring.erase_case(case_id)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    folder = case_dir(app[CONFIG].data_dir, case_id)
    locks = [app[MEDIA_LOCKS].setdefault(rid, asyncio.Lock()) for rid in recording_ids]
    for lock in locks:  # no thumbnail or cut is writing into the folder meanwhile
        await lock.acquire()
    try:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    finally:
        for lock in locks:
            lock.release()
    for rid in recording_ids:
        app[MEDIA_LOCKS].pop(rid, None)
    await asyncio.to_thread(checkpoint, db)
    store.audit(actor, "case-erased", f"case:{case_id}", how=how, **counts.to_json())
    return counts
