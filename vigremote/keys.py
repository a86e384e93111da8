"""The master key: kept outside the data folder, so a copy of that folder alone gives nothing away.

Whoever can read or change files in the data folder (a backup, a stolen disk, a careless admin)
must not be able to forge the audit trail's anchors, nor (later) read the encrypted media. So
the key that protects them lives elsewhere: in `VIGREMOTE_MASTER_KEY` (base64, 32 bytes), in a
file given with `--master-key-file`, or by default in `~/.config/vigremote/master.key`, made on
first use and readable by its owner only. A key file inside the data folder is refused.

Each use gets its own key derived from the master key (HKDF-SHA256 with the use's name), so one
key never serves two purposes. Lose the master key and what it protects cannot be verified or
read: back it up apart from the data.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_ENV = "VIGREMOTE_MASTER_KEY"
KEY_BYTES = 32


class MasterKeyError(Exception):
    """The master key is missing, malformed, badly placed or readable by others."""


def default_key_path() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "vigremote" / "master.key"


def new_key_text() -> str:
    """A fresh master key as the text a key file or `VIGREMOTE_MASTER_KEY` holds."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"{where} does not hold a base64 key") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"{where} must hold {KEY_BYTES} bytes (base64), not {len(key)}")
    return key


def load_master_key(data_dir: Path, key_file: Path | None = None, create: bool = True) -> bytes:
    """The master key from the environment, `key_file` or the default file (made if missing)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return parse_key(from_env, KEY_ENV)
    path = (key_file or default_key_path()).expanduser().resolve()
    if path.is_relative_to(data_dir.resolve()):
        raise MasterKeyError(f"the master key must live outside the data folder, not at {path}")
    if not path.exists():
        if not create or key_file is not None:
            raise MasterKeyError(
                f"no master key at {path} (make one with: vigremote keys generate)"
            )
        write_private_key(path, new_key_text())
    if path.stat().st_mode & 0o077:
        raise MasterKeyError(f"{path} is readable by other users: chmod 600 it")
    return parse_key(path.read_text(encoding="ascii"), str(path))


def write_private_key(path: Path, text: str) -> None:
    """Create the key file 0600; if another process made it first, keep theirs."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


def derive(master: bytes, use: str) -> bytes:
    """The key for one use (e.g. "audit-anchor"), never the master key itself."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=use.encode())
    return hkdf.derive(master)
