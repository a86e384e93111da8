"""A data folder made by vigremote's main before encryption at rest (tests/fixtures/main-1707023)
opens under today's code with nothing lost, everything sealed, and a sealed backup first."""

from __future__ import annotations

import base64
import shutil
import sqlite3
from pathlib import Path

import aiohttp
import av
import pytest

from tests.conftest import login, start_server
from vigremote.audit import AUDIT_SEAL_KEY, verify
from vigremote.config import Config
from vigremote.keys import derive
from vigremote.migrations import LATEST, TooNew, unseal_backup
from vigremote.records import open_records
from vigremote.state import VAULT
from vigremote.vault.sealed import is_sealed

FIXTURE = Path(__file__).parent / "fixtures" / "main-1707023"
MASTER = base64.b64decode((FIXTURE / "master.key").read_text())
CASE, RECORDING, CLIP, STILL = (
    "kpCS4c1fQK8Npu_w",
    "C0JGI0V9EvSCoMKE",
    "clipOldmain0001",
    "stillOldmain0001",
)
TEXTS = (
    b"The Oldmain Family",
    b"Oldmain clip title",
    b"Oldmain clip notes",
    b"Oldmain still caption",
    b"Oldmain bookmark",
    b"oldmain note",
)


@pytest.fixture
def old_folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE / "data", data)
    return data


def frame_bytes(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p)[40:104] for p in container.demux(video=0) if p.size > 200][:4]


async def test_an_old_data_folder_opens_with_nothing_lost(old_folder: Path) -> None:
    segment = old_folder / "cases" / CASE / RECORDING / "segment-001.webm"
    needles = list(TEXTS) + frame_bytes(segment)
    assert all(
        any(n in p.read_bytes() for p in old_folder.rglob("*") if p.is_file()) for n in TEXTS
    )

    runner, server = await start_server(old_folder, master_key=MASTER)
    try:
        vault = server.app[VAULT]
        async with aiohttp.ClientSession() as http:
            await login(http, server, "olive")
            async with http.get(f"{server.url}/api/cases") as response:
                assert [c["label"] for c in (await response.json())["cases"]] == [
                    "The Oldmain Family"
                ]
            async with http.get(f"{server.url}/api/cases/{CASE}/clips") as response:
                [clip] = (await response.json())["clips"]
            assert (clip["title"], clip["notes"]) == ("Oldmain clip title", "Oldmain clip notes")
            async with http.get(f"{server.url}/api/cases/{CASE}/stills") as response:
                assert (await response.json())["stills"][0]["caption"] == "Oldmain still caption"
            async with http.get(f"{server.url}/api/cases/{CASE}/consent") as response:
                history = (await response.json())["history"]
            assert [h["note"] for h in history] == [
                "",
                "Mother rang: happy to continue (oldmain note)",
            ]
            async with http.get(f"{server.url}/api/recordings/{RECORDING}") as response:
                opened = await response.json()
            assert opened["frames"]["count"] == 90
            assert [m["note"] for m in opened["bookmarks"]] == ["Oldmain bookmark: she smiles back"]
            async with http.get(f"{server.url}/api/clips/{CLIP}/media") as response:
                clip_bytes = await response.read()
            async with http.get(f"{server.url}/api/stills/{STILL}/image.png") as response:
                assert response.status == 200 and (await response.read()).startswith(b"\x89PNG")
        import io

        with av.open(io.BytesIO(clip_bytes)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 31
        with vault.open(segment) as sealed, av.open(sealed, "r") as container:
            assert sum(1 for _ in container.decode(video=0)) == 90
        files = [p for p in (old_folder / "cases").rglob("*") if p.is_file()]
        assert all(is_sealed(p) for p in files if not p.name.endswith(".key"))
        found = [
            (n[:20], p.name)
            for p in old_folder.rglob("*")
            if p.is_file()
            for n in needles
            if n in p.read_bytes()
        ]
        assert found == []
        db = server.store.db
        assert db.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert verify(db, derive(MASTER, AUDIT_SEAL_KEY)).ok
        assert "case-created" in [e["action"] for e in server.store.audit_trail()]
        [backup] = list((old_folder / "backups").glob("*.sealed"))
        restored = old_folder.parent / "restored.sqlite3"
        unseal_backup(server.store.keyring, backup, restored)
        old = sqlite3.connect(restored)
        assert old.execute("SELECT label FROM cases").fetchone()[0] == "The Oldmain Family"
        old.close()
    finally:
        await runner.cleanup()

    # Opened again: nothing more to do, no second backup.
    records = open_records(Config(data_dir=old_folder, master_key=MASTER))
    try:
        assert records.migrated == []
    finally:
        records.close()
    assert len(list((old_folder / "backups").glob("*.sealed"))) == 1


def test_a_folder_from_a_newer_vigremote_is_refused(old_folder: Path) -> None:
    db = sqlite3.connect(old_folder / "vigremote.sqlite3")
    db.execute(f"PRAGMA user_version = {LATEST + 1}")
    db.close()
    with pytest.raises(TooNew):
        open_records(Config(data_dir=old_folder, master_key=MASTER))


def test_a_new_folder_starts_at_the_newest_version(tmp_path: Path) -> None:
    records = open_records(Config(data_dir=tmp_path / "data"))
    try:
        assert records.store.db.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert records.migrated == [] and not (tmp_path / "data" / "backups").exists()
    finally:
        records.close()
