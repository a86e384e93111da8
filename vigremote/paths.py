"""Where families' files live: one private folder per case, paths built only from server ids."""

from __future__ import annotations

import re
from pathlib import Path

from vigremote.config import ensure_private_dir

_SERVER_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def _checked(name: str) -> str:
    if not _SERVER_ID.match(name):
        raise ValueError("not a server-generated id")
    return name


def case_dir(data_dir: Path, case_id: str) -> Path:
    cases = ensure_private_dir(ensure_private_dir(data_dir) / "cases")
    return ensure_private_dir(cases / _checked(case_id))


def recording_dir(data_dir: Path, case_id: str, recording_id: str) -> Path:
    return ensure_private_dir(case_dir(data_dir, case_id) / _checked(recording_id))


def inside(data_dir: Path, path: Path) -> Path:
    """Resolve `path` and refuse it unless it lies inside the data folder."""
    resolved = path.resolve()
    if not resolved.is_relative_to(data_dir.resolve()):
        raise ValueError("path outside the data folder")
    return resolved
