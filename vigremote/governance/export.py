"""A family's complete data as one archive (GDPR right of access): readable without vigremote.

The archive holds an index page (index.html) that a family or a data protection officer opens in
any browser, the consent history, every recording's files, every clip and still, the shared
reviews and their playlists, and every audit entry about the case, all decrypted. It is written
to a file object: sealed in the case's folder for the web page's download, or to a path the
operator chose from the command line.
"""

from __future__ import annotations

import html
import json
import time
import zipfile
from pathlib import Path
from typing import IO, Any

from vigremote.paths import case_dir, recording_dir
from vigremote.records import Records


def case_objects(records: Records, case_id: str) -> set[str]:
    """The audit objects that belong to a case: itself, its sessions, recordings, clips, stills."""
    objects = {f"case:{case_id}"}
    objects |= {f"session:{s.id}" for s in records.store.sessions_of(case_id)}
    objects |= {f"recording:{r.id}" for r in records.recordings.of_case(case_id)}
    objects |= {f"clip:{c.id}" for c in records.clips.clips_of(case_id)}
    objects |= {f"still:{s.id}" for s in records.clips.stills_of(case_id)}
    return objects


def case_audit(records: Records, case_id: str) -> list[dict[str, Any]]:
    """Every audit entry about the case or anything of it, oldest first."""
    objects = case_objects(records, case_id)
    names: dict[str, str] = {}
    found = []
    for entry in records.store.audit_trail():
        if entry["object"] in objects or entry["detail"].get("case") == case_id:
            found.append(entry | {"actor_name": actor_name(records, entry["actor"], names)})
    return found


def actor_name(records: Records, actor: str, names: dict[str, str]) -> str:
    """Who an audit actor is, in words: a user's name, or what kind of participant it was."""
    if actor not in names:
        try:
            names[actor] = records.store.user(actor).display_name
        except Exception:  # a family's or observer's participant id, "cli", "retention", …
            names[actor] = "the family" if actor.startswith("family") else actor
    return names[actor]


def export_case(records: Records, data_dir: Path, case_id: str, sink: IO[bytes]) -> dict[str, int]:
    """Write the case's archive (zip) into `sink` (seekable); returns what it holds."""
    store, vault = records.store, records.vault
    case = store.case(case_id)
    sessions = store.sessions_of(case_id)
    consents = records.consents.history(case_id)
    recordings = records.recordings.of_case(case_id)
    clips = records.clips.clips_of(case_id)
    stills = records.clips.stills_of(case_id)
    audit = case_audit(records, case_id)
    folder = case_dir(data_dir, case_id)
    files: list[tuple[str, str]] = []  # (name in the archive, what it is)
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:

        def add_file(source: Path, name: str, what: str) -> None:
            if not source.exists():
                return
            with vault.open(source) as plain, archive.open(name, "w", force_zip64=True) as out:
                while piece := plain.read(1 << 20):
                    out.write(piece)
            files.append((name, what))

        def add_json(name: str, value: Any) -> None:
            archive.writestr(name, json.dumps(value, indent=2, ensure_ascii=False))

        recordings_json = []
        for recording in recordings:
            names = records.recordings.segments(recording.id)
            for name in names:
                add_file(
                    recording_dir(data_dir, case_id, recording.id) / name,
                    f"recordings/{recording.id}/{name}",
                    f"recording {recording.id} ({recording.status}), part {name}",
                )
            recordings_json.append(
                recording.to_json() | {"marks": records.recordings.marks(recording.id)}
            )
        for clip in clips:
            add_file(folder / "clips" / clip.file_name, f"clips/{clip.file_name}", clip.title)
        for still in stills:
            add_file(
                folder / "stills" / still.file_name, f"stills/{still.file_name}", still.caption
            )
        reviews = {
            s.id: [i.to_json() for i in records.reviews.playlist(s.id)]
            for s in sessions
            if s.kind == "review"
        }
        add_json("case.json", case.to_json())
        add_json("sessions.json", [s.to_json() for s in sessions])
        add_json("consent-history.json", [_consent_json(c) for c in consents])
        add_json("recordings.json", recordings_json)
        add_json("clips.json", [c.to_json() for c in clips])
        add_json("stills.json", [s.to_json() for s in stills])
        add_json("reviews.json", reviews)
        add_json("audit.json", audit)
        add_json("supervision.json", _supervision_json(records, case_id))
        archive.writestr(
            "index.html", _index(case.label, sessions, consents, recordings, files, audit)
        )
    return {
        "recordings": len(recordings),
        "clips": len(clips),
        "stills": len(stills),
        "consents": len(consents),
        "audit_entries": len(audit),
        "files": len(files),
    }


def _supervision_json(records: Records, case_id: str) -> list[dict[str, Any]]:
    """What of the family was shared in supervision, with the comments made on it."""
    supervision = records.supervision
    return [
        {
            "share": share.id,
            "kind": share.kind,
            "item": share.item_id,
            "shared_at": share.created_at,
            "withdrawn_at": share.withdrawn_at,
            "comments": [c.to_json() for c in supervision.comments(share.id)],
        }
        for share in supervision.of_case(case_id)
    ]


def _consent_json(consent: Any) -> dict[str, Any]:
    return dict(consent.to_json()) | {"note": consent.note, "session_id": consent.session_id}


def _when(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) + " UTC"


def _index(
    label: str,
    sessions: list[Any],
    consents: list[Any],
    recordings: list[Any],
    files: list[tuple[str, str]],
    audit: list[dict[str, Any]],
) -> str:
    e = html.escape

    def rows(cells: list[list[str]]) -> str:
        return "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in cells)

    consent_rows = rows(
        [
            [_when(c.given_at), ", ".join(c.purposes) or "nothing (withdrawn)", c.how, c.note]
            for c in consents
        ]
    )
    session_rows = rows([[_when(s.created_at), s.kind, s.status] for s in sessions])
    recording_rows = rows(
        [[_when(r.started_at), f"{r.duration_s:.0f} s", r.status, r.id] for r in recordings]
    )
    file_items = "".join(f'<li><a href="{e(n)}">{e(n)}</a>: {e(w)}</li>' for n, w in files)
    audit_rows = rows(
        [
            [_when(a["at"]), a["actor_name"], a["action"], a["object"], json.dumps(a["detail"])]
            for a in audit
        ]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Everything held about: {e(label)}</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.3rem .5rem;text-align:left}}
</style></head><body><main>
<h1>Everything held about: {e(label)}</h1>
<p>Made {e(_when(time.time()))}. The films open in a web browser or VLC; the .json files hold the
same records for a computer.</p>
<h2>What the family agreed to, over time</h2>
<table><tr><th>When</th><th>Agreed to</th><th>How</th><th>Note</th></tr>{consent_rows}</table>
<h2>Sessions</h2><table><tr><th>When</th><th>Kind</th><th>Status</th></tr>{session_rows}</table>
<h2>Recordings</h2>
<table><tr><th>Started</th><th>Length</th><th>Status</th><th>Id</th></tr>{recording_rows}</table>
<h2>Files</h2><ul>{file_items}</ul>
<h2>Who did what with this family's material (audit)</h2>
<table><tr><th>When</th><th>Who</th><th>What</th><th>Which</th><th>Details</th></tr>{audit_rows}
</table></main></body></html>
"""
