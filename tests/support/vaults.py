"""Sealed media in tests: a Vault of its own for tests without a server, and opening helpers.

Every family file vigremote writes is sealed (vigremote/vault); tests read them back through
the same Vault the server used (`server.app[VAULT]`), never as plain files.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vigremote.vault.files import Vault
from vigremote.vault.keyring import Keyring

TEST_MASTER_KEY = bytes(range(32))
TEST_CASE = "case-for-tests"


def standalone_vault(root: Path) -> tuple[Vault, Path]:
    """A Vault over `root` (its keys in root/keys.db) and a case folder to put files in."""
    folder = root / "cases" / TEST_CASE
    folder.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(root / "keys.db", isolation_level=None, check_same_thread=False)
    return Vault(root, Keyring(db, TEST_MASTER_KEY)), folder
