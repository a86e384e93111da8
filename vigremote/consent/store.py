"""Consent records: what a family agreed to, purpose by purpose, and with which wording.

One consent per family (case): the newest record is what holds now, for every recording,
clip and still of the case, whichever session it was given in. Each change of mind is a new
row, so the history of what was agreed, when, and how (in the call, on the family's link after
the call, or by phone or letter as recorded by the practitioner) is kept.

The wording lives in data (vigremote/data/consent-wording.json, versioned) so an organisation
can change it without touching code; every record keeps which version the family saw, and in
which language they answered. A translation is one more file, consent-wording.<lang>.json,
with the same version and purposes: only its texts differ, and a text it lacks is said in
English.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

from vigremote import messages
from vigremote.config import Config
from vigremote.storage import new_id
from vigremote.vault.keyring import Keyring

PURPOSES = ("analysis", "shared_review", "supervision", "training", "copies")
# How a consent reached the service: the family themselves, or a practitioner writing down a
# withdrawal the family made another way.
FAMILY_CHANNELS = ("in-call", "family-link")
PRACTITIONER_CHANNELS = ("phone", "letter", "email", "in-person")
# The wording's own language, and what an unknown or missing language falls back to.
DEFAULT_LANGUAGE = "en"
# consent-wording.json is English; consent-wording.<lang>.json a translation (cy, pt-BR, …).
_TRANSLATION_FILE = re.compile(r"consent-wording\.([a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)\.json")
# What a translation may not change: the question must be the same in every language.
_STRUCTURE = frozenset({"version", "id", "records", "required_for_recording"})
# The organisation's notes (Config) sent with the wording; left at their built-in English
# defaults, they are said in the family's language (the wording's default_notes).
_NOTES = ("retention_text", "withdraw_text", "contact_text")

SCHEMA = """
CREATE TABLE IF NOT EXISTS case_consents (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(id),
    session_id TEXT REFERENCES sessions(id),
    purposes TEXT NOT NULL,
    wording_version TEXT NOT NULL,
    given_by TEXT NOT NULL,
    how TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    given_at REAL NOT NULL,
    language TEXT
);
CREATE INDEX IF NOT EXISTS case_consents_by_case ON case_consents (case_id, given_at);
"""


def load_wording() -> dict[str, Any]:
    text = resources.files("vigremote").joinpath("data/consent-wording.json").read_text("utf-8")
    wording: dict[str, Any] = json.loads(text)
    return wording


def load_wordings() -> dict[str, dict[str, Any]]:
    """Every shipped language's wording, by language code, each with its `language`.

    A translation's missing or empty text falls back to English; one with another version or
    other purposes is refused (ValueError): it would not ask the same question.
    """
    english = load_wording()
    wordings = {DEFAULT_LANGUAGE: english | {"language": DEFAULT_LANGUAGE}}
    data = resources.files("vigremote").joinpath("data")
    for entry in sorted(data.iterdir(), key=lambda e: e.name):
        found = _TRANSLATION_FILE.fullmatch(entry.name)
        if found is None or found.group(1) == DEFAULT_LANGUAGE:
            continue
        language = found.group(1)
        translation = json.loads(entry.read_text("utf-8"))
        check_same_question(english, translation, language)
        wordings[language] = translated(english, translation) | {"language": language}
    return wordings


def check_same_question(english: dict[str, Any], other: dict[str, Any], language: str) -> None:
    """A translation must have the English wording's version and purposes."""
    if other.get("version") != english["version"]:
        raise ValueError(
            f"consent wording {language!r} has version {other.get('version')!r}, "
            f"English has {english['version']!r}"
        )
    ids = [p.get("id") for p in other.get("purposes", []) if isinstance(p, dict)]
    if ids != [p["id"] for p in english["purposes"]]:
        raise ValueError(f"consent wording {language!r} lists other purposes than English")


def translated(english: Any, other: Any) -> Any:
    """English's structure with the translation's texts where it has them."""
    if isinstance(english, dict):
        given = other if isinstance(other, dict) else {}
        return {
            k: v if k in _STRUCTURE else translated(v, given.get(k)) for k, v in english.items()
        }
    if isinstance(english, list):  # the purposes, matched by id
        by_id = (
            {p.get("id"): p for p in other if isinstance(p, dict)}
            if isinstance(other, list)
            else {}
        )
        return [translated(item, by_id.get(item.get("id"))) for item in english]
    if isinstance(english, str) and isinstance(other, str) and other.strip():
        return other
    return english


def shipped_language(wordings: dict[str, dict[str, Any]], language: object) -> str:
    """The language asked for if it is shipped, else English (never an error: the family
    still gets the question, in English)."""
    if isinstance(language, str) and language in wordings:
        return language
    return DEFAULT_LANGUAGE


def wording_for(wording: dict[str, Any], session_kind: str) -> dict[str, Any]:
    """The wording with the intro and the purpose that records this kind of session."""
    kinds: dict[str, Any] = wording.get("sessions", {})
    specific = kinds.get(session_kind, kinds.get("filming", {}))
    out = {k: v for k, v in wording.items() if k not in ("sessions", "default_notes")}
    out.update(specific)
    return out


def family_wording(
    wordings: dict[str, dict[str, Any]], language: object, session_kind: str, config: Config
) -> dict[str, Any]:
    """What the family's page shows: the wording in their language (unknown: English) for this
    kind of session, with the organisation's notes as configured; a note left at its built-in
    English default is given in the family's language."""
    wording = wordings[shipped_language(wordings, language)]
    builtin = {f.name: f.default for f in fields(Config) if f.name in _NOTES}
    in_language: dict[str, str] = wording.get("default_notes", {})
    notes = {
        key: config.fill_periods(in_language.get(key, text) if text == builtin.get(key) else text)
        for key, text in config.consent_notes().items()
    }
    return wording_for(wording, session_kind) | notes


@dataclass(frozen=True)
class Consent:
    id: str
    case_id: str
    session_id: str | None
    purposes: list[str]
    wording_version: str
    given_by: str
    how: str
    note: str
    given_at: float
    # The language the family answered in (None: written down by the practitioner).
    language: str | None = None

    def allows(self, purpose: str) -> bool:
        return purpose in self.purposes

    def to_json(self) -> messages.Consent:
        return {
            "id": self.id,
            "purposes": self.purposes,
            "wording_version": self.wording_version,
            "given_by": self.given_by,
            "how": self.how,
            "given_at": self.given_at,
            "language": self.language,
        }


class ConsentStore:
    def __init__(self, db: sqlite3.Connection, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring  # a practitioner's note is sealed with the case's key
        self._db.executescript(SCHEMA)
        self._add_language_column()
        self._migrate_per_session_rows()

    def _add_language_column(self) -> None:
        """Data folders from before languages: add the column. Their families' answers were all
        given in English, the only wording there was; practitioners' entries have none."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(case_consents)")}
        if "language" in columns:
            return
        self._db.execute("ALTER TABLE case_consents ADD COLUMN language TEXT")
        self._db.execute(
            "UPDATE case_consents SET language = ? WHERE how IN (?, ?)",
            (DEFAULT_LANGUAGE, *FAMILY_CHANNELS),
        )

    def _migrate_per_session_rows(self) -> None:
        """Data folders from before per-case consent kept one table per session: carry it over."""
        old = self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'consents'"
        ).fetchone()
        if old is None:
            return
        for row in self._db.execute("SELECT * FROM consents").fetchall():
            self._db.execute(
                "INSERT OR IGNORE INTO case_consents (id, case_id, session_id, purposes,"
                " wording_version, given_by, how, note, given_at, language)"
                " VALUES (?, ?, ?, ?, ?, ?, 'in-call', ?, ?, ?)",
                (
                    row["id"],
                    row["case_id"],
                    row["session_id"],
                    row["purposes"],
                    row["wording_version"],
                    row["given_by"],
                    self._keyring.seal_text(row["case_id"], ""),  # no note, sealed as all are
                    row["given_at"],
                    DEFAULT_LANGUAGE,
                ),
            )
        self._db.execute("DROP TABLE consents")

    def record(
        self,
        case_id: str,
        purposes: list[str],
        version: str,
        given_by: str,
        *,
        session_id: str | None = None,
        how: str = "in-call",
        note: str = "",
        language: str | None = None,
    ) -> Consent:
        """`language`: the one the family answered in (None for a practitioner's entry)."""
        if how not in FAMILY_CHANNELS + PRACTITIONER_CHANNELS:
            raise ValueError(f"unknown consent channel {how!r}")
        consent = Consent(
            new_id(),
            case_id,
            session_id,
            [p for p in PURPOSES if p in purposes],
            version,
            given_by,
            how,
            note,
            time.time(),
            language,
        )
        self._db.execute(
            "INSERT INTO case_consents (id, case_id, session_id, purposes, wording_version,"
            " given_by, how, note, given_at, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                consent.id,
                case_id,
                session_id,
                json.dumps(consent.purposes),
                version,
                given_by,
                how,
                self._keyring.seal_text(case_id, note),
                consent.given_at,
                language,
            ),
        )
        return consent

    def current(self, case_id: str) -> Consent | None:
        """What the family agreed to most recently (None: never asked yet)."""
        row = self._db.execute(
            "SELECT * FROM case_consents WHERE case_id = ? ORDER BY given_at DESC, rowid DESC",
            (case_id,),
        ).fetchone()
        return self._consent(row) if row else None

    def confirmed_in(self, session_id: str) -> bool:
        """Whether the family itself answered the consent question during this session."""
        row = self._db.execute(
            "SELECT 1 FROM case_consents WHERE session_id = ? AND how = 'in-call'", (session_id,)
        ).fetchone()
        return row is not None

    def history(self, case_id: str) -> list[Consent]:
        rows = self._db.execute(
            "SELECT * FROM case_consents WHERE case_id = ? ORDER BY given_at, rowid", (case_id,)
        ).fetchall()
        return [self._consent(r) for r in rows]

    def _consent(self, row: sqlite3.Row) -> Consent:
        return Consent(
            row["id"],
            row["case_id"],
            row["session_id"],
            json.loads(row["purposes"]),
            row["wording_version"],
            row["given_by"],
            row["how"],
            self._keyring.open_text(row["note"]),
            row["given_at"],
            row["language"],
        )
