"""A recording survives a SIGKILL of the server and a full disk."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import av
import pytest

from tests.conftest import RunningServer, answers, free_port, start_server
from tests.recording_helpers import call, media
from tests.support.numbered_video import av_input
from tests.support.publisher import SimulatedFamily
from tests.test_recording import decoded_numbers
from vigremote.config import Config
from vigremote.keys import load_master_key
from vigremote.recording import writer
from vigremote.records import open_records
from vigremote.state import RECORDINGS, VAULT
from vigremote.vault.files import Vault

PASSWORD = "a long enough password"


def cli(data: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "vigremote.cli", *args, "--data", str(data)],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


@asynccontextmanager
async def server_process(data: Path, port: int) -> AsyncIterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "vigremote.cli", "serve", "--port", str(port), "--data", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await answers(f"http://127.0.0.1:{port}")
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


@contextmanager
def vault_of(data: Path) -> Iterator[Vault]:
    """The vault of a server process's data folder (stopped), opened as the CLI opens it."""
    records = open_records(Config(data, master_key=load_master_key(data, create=False)))
    try:
        yield records.vault
    finally:
        records.close()


async def practitioner_token(port: int, session_id: str) -> str:
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = {"username": "carol", "password": PASSWORD}
        async with http.post(f"{base}/api/login", json=login) as r:
            csrf = (await r.json())["csrf"]
        url = f"{base}/api/sessions/{session_id}/join-token"
        async with http.post(url, headers={"X-CSRF-Token": csrf}) as r:
            return str((await r.json())["token"])


async def test_sigkill_mid_recording_keeps_all_but_the_last_two_seconds(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    cli(data, "user", "add", "carol", "--password-stdin", stdin=PASSWORD + "\n")
    created = json.loads(cli(data, "session", "create", "--owner", "carol", "--case-label", "K"))
    token = created["family_link"].rsplit("/", 1)[1]
    ws_url = f"ws://127.0.0.1:{port}/ws"
    async with server_process(data, port) as process:
        family = SimulatedFamily(ws_url, token, media())
        practitioner = SimulatedFamily(
            ws_url, await practitioner_token(port, created["session_id"])
        )
        await practitioner.join(with_media=False)
        await family.join()
        version = json.loads(
            (Path(__file__).parents[1] / "vigremote/data/consent-wording.json").read_text()
        )["version"]
        await family.send({"type": "consent", "version": version, "purposes": ["analysis"]})
        await practitioner.wait_for("consent")
        await practitioner.send({"type": "record", "action": "start"})
        started = await practitioner.wait_for("recording", state="recording")
        started_at = time.monotonic()
        await asyncio.sleep(5.5)
        os.kill(process.pid, signal.SIGKILL)
        recorded_s = time.monotonic() - started_at
        process.wait(10)
        await family.close()
        await practitioner.close()

    folder = data / "cases" / created["case_id"] / started["recording_id"]
    [segment] = sorted(folder.iterdir())
    # Killed while writing: the segment's end is not marked yet (the next start marks it).
    with vault_of(data) as vault, vault.open(segment, allow_unfinished=True) as sealed:
        numbers, times = decoded_numbers(sealed)
    assert None not in numbers
    kept_s = times[-1] - times[0]
    print(f"SIGKILL after {recorded_s:.2f} s of recording: {kept_s:.2f} s on disk, decoded")
    assert kept_s >= recorded_s - 2.0, (times[-1], recorded_s)

    # The next start marks it interrupted and keeps it usable, with its duration.
    async with server_process(data, port):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            base = f"http://127.0.0.1:{port}"
            async with http.post(
                f"{base}/api/login", json={"username": "carol", "password": PASSWORD}
            ) as r:
                assert r.status == 200
            async with http.get(f"{base}/api/cases/{created['case_id']}/recordings") as r:
                [listed] = (await r.json())["recordings"]
    assert listed["status"] == "interrupted"
    assert listed["duration_s"] >= recorded_s - 2.0
    assert listed["size_bytes"] == segment.stat().st_size
    # ... and whole again: it reads as a finished file, with what was there before.
    with vault_of(data) as vault, vault.open(segment) as sealed:
        assert decoded_numbers(sealed) == (numbers, times)


@pytest.fixture
async def small_disk_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server whose recordings folder is a 400 KiB tmpfs (a real ENOSPC, not a mock)."""
    data = tmp_path / "data"
    cases = data / "cases"
    cases.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k,mode=0700", "tmpfs", str(cases)], check=True
    )
    runner, running = await start_server(data)
    try:
        yield running
    finally:
        await runner.cleanup()
        subprocess.run(["umount", "-l", str(cases)], check=False)


async def test_full_disk_fails_the_recording_but_not_the_call(
    small_disk_server: RunningServer,
) -> None:
    server = small_disk_server
    async with call(server) as c:
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        failed = await c.practitioner.wait_for("recording", state="failed", timeout=30)
        assert "disk is full" in failed["message"]
        recording = server.app[RECORDINGS].get(started["recording_id"])
        assert recording.status == "failed"
        # The call is still up: the socket answers and the family's media still flows.
        await c.family.send({"type": "ping"})
        await c.family.wait_for("pong")
        assert c.family.pc is not None and c.family.pc.connectionState == "connected"
        await asyncio.sleep(1.0)
        assert c.family.pc.connectionState == "connected"
        # What was written still plays (its end could not be marked on the full disk).
        [segment] = c.files(recording.id)
        with server.app[VAULT].open(segment, allow_unfinished=True) as sealed:
            numbers, times = decoded_numbers(sealed)
            assert len(numbers) >= 15 and None not in numbers
            # A new recording can be tried (it fails again, cleanly, on the still-full disk).
            again = await c.record(c.practitioner, "start")
            assert again["type"] in ("recording", "error")
            with av.open(av_input(sealed), "r") as container:
                assert container.streams.video[0].codec_context.name == "vp8"


async def test_a_database_another_process_holds_delays_the_segment_row_not_the_recording(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker processes share one SQLite file; under a burst another may hold it past the
    busy timeout. The segment's row then waits and is retried; the frames do not wait."""
    store = server.app[RECORDINGS]
    real = store.add_segment
    refusals: list[str] = []

    def locked_twice(recording_id: str, seq: int, file_name: str, codec: str) -> None:
        if len(refusals) < 2:
            refusals.append(file_name)
            raise sqlite3.OperationalError("database is locked")
        real(recording_id, seq, file_name, codec)

    monkeypatch.setattr(store, "add_segment", locked_twice)
    async with call(server) as c:
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        await asyncio.sleep(3)
        stopped = await c.record(c.practitioner, "stop")
    assert refusals == ["segment-001.webm", "segment-001.webm"]  # on the loop, then a retry
    recording = store.get(started["recording_id"])
    assert stopped["state"] == "stopped" and recording.status == "complete"
    [segment] = c.files(recording.id)
    with server.app[VAULT].open(segment) as sealed:
        numbers, times = decoded_numbers(sealed)
    assert None not in numbers and len(numbers) >= 75  # from the start: nothing waited
    assert times[-1] - times[0] >= 2.5


async def test_a_segment_row_that_never_lands_stops_the_recording_as_failed_saying_so(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file no record points to would be found by nobody: rather than record on into it,
    the recording stops as failed, and the practitioner is told."""
    store = server.app[RECORDINGS]

    def always_locked(recording_id: str, seq: int, file_name: str, codec: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store, "add_segment", always_locked)
    monkeypatch.setattr(writer, "LOCKED_RETRY_S", (0.05, 0.05))
    async with call(server) as c:
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        failed = await c.practitioner.wait_for("recording", state="failed", timeout=15)
    assert failed["recording_id"] == started["recording_id"]
    assert failed["message"]
    assert store.get(started["recording_id"]).status == "failed"
