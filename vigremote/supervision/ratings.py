"""The supervision log and VIG-SDS ratings: the scale is data an organisation loads, never code.

The scale's items and levels (and their wording, which belongs to AVIGuk for the real VIG-SDS)
come from a JSON file or an admin's upload; vigremote ships a neutral placeholder
(data/sds-scale.json) so the feature works out of the box. Every loaded scale is kept, and each
rating names the scale it was made on, so a history stays readable after a new scale is loaded.

A supervision (a measured call, a face-to-face session entered by the supervisor, or a peer
supervision) gets the trainee's self-rating and the supervisor's rating, seen side by side, the
strengths and next steps agreed at the end, and the supervisor's sign-off, after which it no
longer changes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from vigremote.storage import NotFound, new_id

KINDS = ("call", "face-to-face", "peer")
RATERS = ("self", "supervisor")
MAX_ITEMS = 40

SCHEMA = """
CREATE TABLE IF NOT EXISTS sds_scales (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    loaded_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS supervisions (
    id TEXT PRIMARY KEY,
    trainee_id TEXT NOT NULL,
    supervisor_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    held_at REAL NOT NULL,
    duration_s REAL NOT NULL,
    strengths TEXT NOT NULL DEFAULT '',
    next_steps TEXT NOT NULL DEFAULT '',
    signed_off_at REAL,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sds_ratings (
    supervision_id TEXT NOT NULL,
    rater TEXT NOT NULL,
    rater_id TEXT NOT NULL,
    scale_id TEXT NOT NULL,
    ratings TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (supervision_id, rater)
);
"""


class BadScale(ValueError):
    """A scale file that cannot be used; the message says what is wrong."""


class SignedOff(ValueError):
    """A signed-off supervision no longer changes."""


def check_scale(scale: object) -> dict[str, Any]:
    """The scale if it is usable: {"name", "items": [{"id", "label", ...}], "levels": [{"value",
    "label"}]} with unique item ids and ascending numeric levels; BadScale otherwise."""
    if not isinstance(scale, dict):
        raise BadScale("a scale is a JSON object with 'name', 'items' and 'levels'")
    name, items, levels = scale.get("name"), scale.get("items"), scale.get("levels")
    if not isinstance(name, str) or not name.strip():
        raise BadScale("the scale needs a 'name'")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise BadScale(f"'items' must list 1 to {MAX_ITEMS} items")
    ids = [i.get("id") if isinstance(i, dict) else None for i in items]
    if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
        raise BadScale("every item needs its own 'id'")
    if any(not isinstance(i.get("label"), str) for i in items):
        raise BadScale("every item needs a 'label'")
    if not isinstance(levels, list) or len(levels) < 2:
        raise BadScale("'levels' must list at least two levels")
    values = [lv.get("value") if isinstance(lv, dict) else None for lv in levels]
    if any(not isinstance(v, int) or isinstance(v, bool) for v in values):
        raise BadScale("every level needs a whole-number 'value'")
    if values != sorted(set(values)):  # type: ignore[type-var]
        raise BadScale("level values must be different and ascending")
    if any(not isinstance(lv.get("label"), str) for lv in levels):
        raise BadScale("every level needs a 'label'")
    return scale


def placeholder_scale() -> dict[str, Any]:
    text = resources.files("vigremote.data").joinpath("sds-scale.json").read_text("utf-8")
    return check_scale(json.loads(text))


def read_scale_file(path: Path) -> dict[str, Any]:
    try:
        return check_scale(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError) as exc:
        raise BadScale(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Supervision:
    id: str
    trainee_id: str
    supervisor_id: str
    kind: str
    held_at: float
    duration_s: float
    strengths: str
    next_steps: str
    signed_off_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trainee_id": self.trainee_id,
            "supervisor_id": self.supervisor_id,
            "kind": self.kind,
            "held_at": self.held_at,
            "duration_s": self.duration_s,
            "strengths": self.strengths,
            "next_steps": self.next_steps,
            "signed_off_at": self.signed_off_at,
        }


class RatingsStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._db.executescript(SCHEMA)

    # -- scales ---------------------------------------------------------------------------
    def load_scale(self, scale: dict[str, Any]) -> str:
        """Make `scale` the current one (loading the same scale again changes nothing)."""
        body = json.dumps(check_scale(scale), sort_keys=True)
        digest = hashlib.sha256(body.encode()).hexdigest()
        row = self._db.execute("SELECT id FROM sds_scales WHERE digest = ?", (digest,)).fetchone()
        if row is not None:
            with self._db:
                self._db.execute(
                    "UPDATE sds_scales SET loaded_at = ? WHERE id = ?", (time.time(), row["id"])
                )
            return str(row["id"])
        scale_id = new_id()
        with self._db:
            self._db.execute(
                "INSERT INTO sds_scales VALUES (?, ?, ?, ?, ?)",
                (scale_id, scale["name"], body, digest, time.time()),
            )
        return scale_id

    def current_scale(self) -> tuple[str, dict[str, Any]]:
        row = self._db.execute(
            "SELECT id, body FROM sds_scales ORDER BY loaded_at DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return self.load_scale(placeholder_scale()), placeholder_scale()
        return str(row["id"]), json.loads(row["body"])

    def scale(self, scale_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT body FROM sds_scales WHERE id = ?", (scale_id,)).fetchone()
        if row is None:
            raise NotFound("no such scale")
        return dict(json.loads(row["body"]))

    # -- the supervision log ----------------------------------------------------------------
    def add(
        self,
        trainee_id: str,
        supervisor_id: str,
        kind: str,
        held_at: float,
        duration_s: float,
        created_by: str,
    ) -> Supervision:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        entry = Supervision(
            new_id(), trainee_id, supervisor_id, kind, held_at, duration_s, "", "", None
        )
        with self._db:
            self._db.execute(
                "INSERT INTO supervisions (id, trainee_id, supervisor_id, kind, held_at,"
                " duration_s, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (entry.id, trainee_id, supervisor_id, kind, held_at, duration_s, created_by),
            )
        return entry

    def get(self, supervision_id: str) -> Supervision:
        row = self._db.execute(
            "SELECT * FROM supervisions WHERE id = ?", (supervision_id,)
        ).fetchone()
        if row is None:
            raise NotFound("no such supervision")
        return _supervision(row)

    def of_trainee(self, trainee_id: str) -> list[Supervision]:
        rows = self._db.execute(
            "SELECT * FROM supervisions WHERE trainee_id = ? ORDER BY held_at", (trainee_id,)
        ).fetchall()
        return [_supervision(r) for r in rows]

    def rate(self, entry: Supervision, rater: str, rater_id: str, values: object) -> None:
        """Record a rating on the current scale: {item id: level value} for every item."""
        if entry.signed_off_at is not None:
            raise SignedOff("this supervision is signed off and no longer changes")
        scale_id, scale = self.current_scale()
        items = [i["id"] for i in scale["items"]]
        levels = {lv["value"] for lv in scale["levels"]}
        if not isinstance(values, dict) or set(values) != set(items):
            raise ValueError(f"rate every item of the scale: {', '.join(items)}")
        if any(v not in levels or isinstance(v, bool) for v in values.values()):
            raise ValueError(f"each rating is one of the levels {sorted(levels)}")
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO sds_ratings VALUES (?, ?, ?, ?, ?, ?)",
                (entry.id, rater, rater_id, scale_id, json.dumps(values), time.time()),
            )

    def ratings(self, supervision_id: str) -> dict[str, dict[str, Any]]:
        """{"self": {"scale_id", "values", "at"}, "supervisor": …} as far as given."""
        rows = self._db.execute(
            "SELECT * FROM sds_ratings WHERE supervision_id = ?", (supervision_id,)
        ).fetchall()
        return {
            r["rater"]: {
                "scale_id": r["scale_id"],
                "values": json.loads(r["ratings"]),
                "at": r["at"],
            }
            for r in rows
        }

    def agree(self, entry: Supervision, strengths: str, next_steps: str) -> None:
        if entry.signed_off_at is not None:
            raise SignedOff("this supervision is signed off and no longer changes")
        with self._db:
            self._db.execute(
                "UPDATE supervisions SET strengths = ?, next_steps = ? WHERE id = ?",
                (strengths, next_steps, entry.id),
            )

    def sign_off(self, entry: Supervision) -> Supervision:
        if entry.signed_off_at is not None:
            raise SignedOff("this supervision is already signed off")
        given = self.ratings(entry.id)
        if set(given) != set(RATERS) or not entry.strengths or not entry.next_steps:
            raise ValueError(
                "sign off once both ratings are in and strengths and next steps are agreed"
            )
        with self._db:
            self._db.execute(
                "UPDATE supervisions SET signed_off_at = ? WHERE id = ?", (time.time(), entry.id)
            )
        return self.get(entry.id)


def _supervision(row: sqlite3.Row) -> Supervision:
    return Supervision(
        row["id"],
        row["trainee_id"],
        row["supervisor_id"],
        row["kind"],
        row["held_at"],
        row["duration_s"],
        row["strengths"],
        row["next_steps"],
        row["signed_off_at"],
    )
