"""Each case's own key, kept in the database wrapped by the master key; free text sealed with it.

Every case gets a random 256-bit key when its first file or text is sealed. The key is stored
only wrapped (AES-256-GCM under a key derived from the master key, which lives outside the data
folder: keys.py), so the data folder alone opens nothing. Media files derive their own keys from
it (sealed.py); free text that can name or describe a family (case labels, notes, titles,
captions, bookmark notes, comments) is sealed with it field by field.

Erasing a case deletes its key: every file, text and backup copy of that case becomes noise at
once, even a copy that escaped deletion. Rotating the master key re-wraps these few rows and
touches no media (`rewrap`).
"""

from __future__ import annotations

import base64
import binascii
import os
import sqlite3
import threading
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vigremote.keys import derive
from vigremote.vault.sealed import KEY_ID_SIZE, Tampered

WRAP_USE = "data-key-wrap"  # what the wrapping key is derived for (keys.derive)
TEXT_PREFIX = "s1:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL UNIQUE,
    wrapped BLOB NOT NULL,
    created_at REAL NOT NULL
);
"""


class KeyGone(Tampered):
    """The case's key was erased (or never made): what it sealed cannot be opened."""


class BadText(ValueError):
    """A sealed text does not authenticate (altered, or sealed for another case)."""


def _wrapper(master: bytes) -> AESGCM:
    return AESGCM(derive(master, WRAP_USE))


def _wrap(master: bytes, key_id: str, key: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + _wrapper(master).encrypt(nonce, key, b"vigremote data key " + key_id.encode())


def _unwrap(master: bytes, key_id: str, wrapped: bytes) -> bytes:
    try:
        return _wrapper(master).decrypt(
            wrapped[:12], wrapped[12:], b"vigremote data key " + key_id.encode()
        )
    except InvalidTag:
        raise KeyGone(f"data key {key_id} does not open with this master key") from None


class Keyring:
    """Case keys: made on first use, unwrapped once and kept in memory while the server runs."""

    def __init__(self, db: sqlite3.Connection, master: bytes) -> None:
        self._db, self._master = db, master
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()  # media threads and the event loop both ask for keys
        self._by_id: dict[bytes, bytes] = {}
        self._by_case: dict[str, bytes] = {}

    def case_key(self, case_id: str) -> tuple[bytes, bytes]:
        """(key id, key) of a case, made now if the case has none yet."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, wrapped FROM data_keys WHERE case_id = ?", (case_id,)
            ).fetchone()
            if row is None:
                key_id, key = os.urandom(KEY_ID_SIZE), AESGCM.generate_key(256)
                self._db.execute(
                    "INSERT INTO data_keys VALUES (?, ?, ?, ?)",
                    (key_id.hex(), case_id, _wrap(self._master, key_id.hex(), key), time.time()),
                )
            else:
                key_id = bytes.fromhex(row[0])
                key = self._by_id.get(key_id) or _unwrap(self._master, row[0], bytes(row[1]))
            self._by_id[key_id], self._by_case[case_id] = key, key_id
            return key_id, key

    def lookup(self, key_id: bytes) -> bytes:
        """The key with this id (from a sealed file's header); KeyGone if it was erased."""
        with self._lock:
            if key_id in self._by_id:
                return self._by_id[key_id]
            row = self._db.execute(
                "SELECT wrapped FROM data_keys WHERE id = ?", (key_id.hex(),)
            ).fetchone()
            if row is None:
                raise KeyGone("this file's case key is gone (the case was erased)")
            key = _unwrap(self._master, key_id.hex(), bytes(row[0]))
            self._by_id[key_id] = key
            return key

    def erase_case(self, case_id: str) -> None:
        """Forget the case's key: whatever it sealed can never be opened again."""
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM data_keys WHERE case_id = ?", (case_id,)
            ).fetchone()
            self._db.execute("DELETE FROM data_keys WHERE case_id = ?", (case_id,))
            self._by_case.pop(case_id, None)
            if row is not None:
                self._by_id.pop(bytes.fromhex(row[0]), None)

    def rewrap(self, new_master: bytes) -> int:
        """Wrap every case key with `new_master` instead (master key rotation); returns how many.
        Run it inside the caller's transaction (with the audit's re-sealing: keys.rotate)."""
        with self._lock:
            rows = self._db.execute("SELECT id, wrapped FROM data_keys").fetchall()
            for key_id, wrapped in rows:
                key = _unwrap(self._master, key_id, bytes(wrapped))
                self._db.execute(
                    "UPDATE data_keys SET wrapped = ? WHERE id = ?",
                    (_wrap(new_master, key_id, key), key_id),
                )
            self._master = new_master
            return len(rows)

    # -- free text ------------------------------------------------------------------------
    def seal_text(self, case_id: str, text: str) -> str:
        """`text` sealed with the case's key, as text a TEXT column can hold."""
        key_id, key = self.case_key(case_id)
        nonce = os.urandom(12)
        sealed = _text_aead(key).encrypt(nonce, text.encode("utf-8"), key_id)
        return TEXT_PREFIX + base64.urlsafe_b64encode(key_id + nonce + sealed).decode("ascii")

    def open_text(self, stored: str) -> str:
        """The text that seal_text sealed; BadText if it was altered, KeyGone if erased."""
        if not stored.startswith(TEXT_PREFIX):
            raise BadText("not a sealed text")
        try:
            raw = base64.urlsafe_b64decode(stored[len(TEXT_PREFIX) :])
        except (binascii.Error, ValueError):
            raise BadText("not a sealed text") from None
        key_id, nonce, sealed = raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE : KEY_ID_SIZE + 12], raw[28:]
        try:
            return _text_aead(self.lookup(key_id)).decrypt(nonce, sealed, key_id).decode("utf-8")
        except InvalidTag:
            raise BadText("a sealed text does not authenticate") from None


def _text_aead(case_key: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"vigremote text")
    return AESGCM(hkdf.derive(case_key))


def is_sealed_text(value: str) -> bool:
    return value.startswith(TEXT_PREFIX)
