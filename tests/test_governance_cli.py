"""The governance commands as real subprocesses on a copy of an old data folder: export, master
key rotation (no media touched), erasure, backups."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import pytest

from tests.test_migrations import CASE, CLIP, FIXTURE, MASTER, RECORDING, TEXTS

TIMEOUT = 120


def run(data: Path, key: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"VIGREMOTE_MASTER_KEY": base64.b64encode(key).decode()}
    return subprocess.run(
        [sys.executable, "-m", "vigremote.cli", *args, "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(FIXTURE / "data", folder)
    return folder


def test_export_rotate_then_erase(data: Path, tmp_path: Path) -> None:
    archive_path = tmp_path / "family.zip"
    done = run(data, MASTER, "case", "export", CASE, "--out", str(archive_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["clips"] == 1
    archive = zipfile.ZipFile(archive_path)
    assert "The Oldmain Family" in archive.read("index.html").decode()
    with av.open(io.BytesIO(archive.read(f"recordings/{RECORDING}/segment-001.webm"))) as c:
        assert sum(1 for _ in c.decode(video=0)) == 90
    assert run(data, MASTER, "case", "export", CASE, "--out", str(archive_path)).returncode == 1

    segment = data / "cases" / CASE / RECORDING / "segment-001.webm"
    sealed_before = segment.read_bytes()
    new_key_file = tmp_path / "keys" / "new.key"
    rotated = run(data, MASTER, "keys", "rotate", "--new-key-file", str(new_key_file))
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["case_keys_rewrapped"] >= 2  # the case's and backups'
    assert segment.read_bytes() == sealed_before  # no media file was touched
    assert new_key_file.stat().st_mode & 0o077 == 0
    new_key = base64.b64decode(new_key_file.read_text())
    assert run(data, new_key, "audit", "verify").returncode == 0
    assert run(data, MASTER, "audit", "verify").returncode == 1  # the old key no longer fits
    again = tmp_path / "again.zip"
    assert run(data, new_key, "case", "export", CASE, "--out", str(again)).returncode == 0
    assert zipfile.ZipFile(again).read(f"clips/{CLIP}.webm") == archive.read(f"clips/{CLIP}.webm")

    wrong = run(data, new_key, "case", "erase", CASE, "--confirm", "The Family")
    assert wrong.returncode == 1 and "label" in wrong.stderr
    erased = run(data, new_key, "case", "erase", CASE, "--confirm", "The Oldmain Family")
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["recordings"] == 1
    leftovers = [
        (needle[:12], path.name)
        for path in data.rglob("*")
        if path.is_file() and "backups" not in path.parts
        for needle in TEXTS
        if needle in path.read_bytes()
    ]
    assert leftovers == [] and not (data / "cases" / CASE).exists()
    assert run(data, new_key, "audit", "verify").returncode == 0


def test_a_new_key_inside_the_data_folder_is_refused(data: Path) -> None:
    done = run(data, MASTER, "keys", "rotate", "--new-key-file", str(data / "new.key"))
    assert done.returncode == 2 and "outside the data folder" in done.stderr
