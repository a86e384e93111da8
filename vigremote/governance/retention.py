"""Retention: what is deleted when, a daily sweep that deletes it, and legal holds that stop it.

The organisation sets the periods (Config.retain_*). From the records alone, every item gets a
date ("will be deleted on …"), shown to the practitioner wherever the item is listed, with a
warning once it is near (`retention_warn_days`):

| item                                   | deleted                                              |
|----------------------------------------|------------------------------------------------------|
| a filming's raw recording (its clips   | N days after the shared review that follows it        |
| and stills stay, as cut files)         |                                                      |
| a recorded shared review               | N days after it was made                              |
| a closed case (clips, stills, all)     | M days after it was closed: the case is erased        |
| a case export waiting to be downloaded | a day after it was made                               |
| audit entries                          | K days old: pruned, the chain anchored where it ends  |

A case on legal hold (a court case) loses nothing while the hold lasts. Every deletion takes
what was derived from the item with it (clips and stills of a recording, caches) and is audited
by the actor "retention".
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from vigremote.config import Config
from vigremote.governance.erasure import StillLive, erase_case
from vigremote.paths import case_dir, recording_dir
from vigremote.recording.store import LIVE_STATUSES, Recording
from vigremote.records import Records
from vigremote.state import CONFIG, MEDIA_LOCKS, RECORDS
from vigremote.storage import Case

log = logging.getLogger(__name__)

DAY = 24 * 3600
EXPORT_KEPT_S = DAY
ACTOR = "retention"


@dataclass(frozen=True)
class Due:
    """An item and the time it is to be deleted."""

    kind: str  # "recording", "case", "export"
    id: str
    case_id: str
    at: float
    why: str

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "id": self.id, "at": self.at, "why": self.why}


def recording_due(records: Records, config: Config, recording: Recording) -> Due | None:
    """When a recording is to be deleted (None: not yet known, e.g. no shared review yet)."""
    session = records.store.session(recording.session_id)
    if session.kind == "review":
        made = recording.ended_at or recording.started_at
        days = config.retain_review_recording_days
        return Due(
            "recording",
            recording.id,
            recording.case_id,
            made + days * DAY,
            f"a recorded shared review is kept {days} days",
        )
    reviews = [
        s
        for s in records.store.sessions_of(recording.case_id)
        if s.kind == "review" and s.ended_at is not None and s.created_at > recording.started_at
    ]
    if not reviews:
        return None
    review_ended = min(s.ended_at for s in reviews if s.ended_at is not None)
    days = config.retain_raw_days_after_review
    return Due(
        "recording",
        recording.id,
        recording.case_id,
        review_ended + days * DAY,
        f"the raw film is kept {days} days after its shared review",
    )


def case_due(config: Config, case: Case) -> Due | None:
    if case.closed_at is None:
        return None
    days = config.retain_days_after_close
    return Due(
        "case",
        case.id,
        case.id,
        case.closed_at + days * DAY,
        f"a closed case is kept {days} days",
    )


def due_of_case(records: Records, config: Config, case: Case) -> list[Due]:
    """Every dated item of a case, soonest first (also when on hold: the page says both)."""
    found = [
        d
        for r in records.recordings.of_case(case.id)
        if r.status != "expired" and (d := recording_due(records, config, r))
    ]
    closed = case_due(config, case)
    if closed is not None:
        found.append(closed)
    return sorted(found, key=lambda d: d.at)


def deletion_dates(due: list[Due]) -> dict[str, float]:
    """{recording id or "case": when it goes} for the pages' "will be deleted on …"."""
    return {d.id if d.kind == "recording" else "case": d.at for d in due}


async def sweep(app: web.Application, now: float | None = None) -> list[Due]:
    """Delete everything whose time has come (not on legal hold); returns what went."""
    records, config = app[RECORDS], app[CONFIG]
    now = time.time() if now is None else now
    gone: list[Due] = []
    for case in records.store.all_cases():
        if case.legal_hold is not None:
            continue
        gone += await _sweep_exports(records, config, case, now)
        for due in due_of_case(records, config, case):
            if due.at > now:
                continue
            if due.kind == "case":
                try:
                    await erase_case(app, case.id, ACTOR, due.why)
                except StillLive:
                    log.warning(
                        "retention: case %s is in a call; erased at the next sweep", case.id
                    )
                    break
                gone.append(due)
                break  # nothing else of it is left
            recording = records.recordings.get(due.id)
            if recording.status in LIVE_STATUSES:  # being recorded (or a crash left it so)
                continue
            await expire_recording(app, recording, due.why)
            gone.append(due)
    pruned = records.store.prune_audit(now - config.retain_audit_days * DAY)
    if pruned:
        log.info(
            "retention: %d audit entries older than %d days pruned",
            pruned,
            config.retain_audit_days,
        )
    return gone


async def expire_recording(app: web.Application, recording: Recording, why: str) -> None:
    """Delete a recording's files (segments, playback copy, thumbnails, caches); its record
    stays, marked expired, for the clips and stills cut from it, which have their own files."""
    folder = recording_dir(app[CONFIG].data_dir, recording.case_id, recording.id)
    lock = app[MEDIA_LOCKS].setdefault(recording.id, asyncio.Lock())
    async with lock:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    app[RECORDS].recordings.expire(recording.id)
    app[RECORDS].store.audit(
        ACTOR, "recording-expired", f"recording:{recording.id}", case=recording.case_id, why=why
    )


async def _sweep_exports(records: Records, config: Config, case: Case, now: float) -> list[Due]:
    """Case exports wait a day for their download, then go."""
    folder = case_dir(config.data_dir, case.id) / "exports"
    if not folder.exists():
        return []
    gone = []
    for path in list(folder.iterdir()):
        if path.stat().st_mtime + EXPORT_KEPT_S <= now:
            await asyncio.to_thread(path.unlink, True)
            gone.append(Due("export", path.stem, case.id, now, "an export is kept a day"))
            records.store.audit(ACTOR, "export-expired", f"case:{case.id}", file=path.name)
    return gone


async def retention_job(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the daily sweep (also just after start), owned and cancelled with the app."""

    async def run() -> None:
        while True:
            try:
                gone = await sweep(app)
                if gone:
                    log.warning(
                        "retention: deleted %s", ", ".join(f"{d.kind} {d.id}" for d in gone)
                    )
            except Exception:
                log.exception("retention sweep failed; trying again at the next one")
            await asyncio.sleep(app[CONFIG].retention_sweep_every_s)

    task = asyncio.create_task(run(), name="retention")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def warnings(records: Records, config: Config, case: Case, now: float | None = None) -> list[Due]:
    """What of the case goes within `retention_warn_days` (nothing while on legal hold)."""
    return due_soon(due_of_case(records, config, case), config, case, now)


def due_soon(due: list[Due], config: Config, case: Case, now: float | None = None) -> list[Due]:
    """Of the case's dated items (due_of_case), those within the warning period."""
    if case.legal_hold is not None:
        return []
    now = time.time() if now is None else now
    horizon = now + config.retention_warn_days * DAY
    return [d for d in due if d.at <= horizon]
