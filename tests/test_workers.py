"""`vigremote serve --workers 2` as real processes sharing rooms through a real Redis (a private
redis-server, so it can be stopped): the family on one process, the practitioner on the other,
in one call that is recorded; the room's process killed mid-recording, and the recording
carried on by the other as the same recording; Redis restarted mid-session."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import answers, free_port
from tests.recording_helpers import media
from tests.support.publisher import SimulatedFamily
from tests.support.redis_server import PrivateRedis
from tests.test_recording import decoded_numbers
from tests.test_recording_durability import PASSWORD, cli, vault_of

CONSENT_VERSION = json.loads(
    (Path(__file__).parents[1] / "vigremote/data/consent-wording.json").read_text()
)["version"]
WORKER_LINE = re.compile(r"worker (w\d+): pid (\d+), internal port (\d+)")


@dataclass
class Cluster:
    process: subprocess.Popen[str]
    port: int
    workers: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (pid, port)
    lines: list[str] = field(default_factory=list)

    def ws(self, worker: str) -> str:
        return f"ws://127.0.0.1:{self.workers[worker][1]}/ws"

    def http(self, worker: str) -> str:
        return f"http://127.0.0.1:{self.workers[worker][1]}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            found = WORKER_LINE.search(line)
            if found:
                self.workers[found[1]] = (int(found[2]), int(found[3]))


@asynccontextmanager
async def cluster(data: Path, redis_url: str, log: Path) -> AsyncIterator[Cluster]:
    port = free_port()
    command = [sys.executable, "-m", "vigremote.cli", "serve", "--port", str(port)]
    command += ["--data", str(data), "--workers", "2", "--redis-url", redis_url]
    with log.open("w") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        running = Cluster(process, port)
        threading.Thread(target=running._read, daemon=True).start()
        try:
            for _ in range(200):
                if len(running.workers) == 2:
                    break
                await asyncio.sleep(0.05)
            for name in ("w0", "w1"):
                await answers(running.http(name))
            yield running
        finally:
            process.terminate()
            process.wait(30)


async def practitioner_token(base: str, session_id: str) -> str:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = {"username": "carol", "password": PASSWORD}
        async with http.post(f"{base}/api/login", json=login) as response:
            csrf = (await response.json())["csrf"]
        url = f"{base}/api/sessions/{session_id}/join-token"
        async with http.post(url, headers={"X-CSRF-Token": csrf}) as response:
            return str((await response.json())["token"])


@pytest.fixture
def redis_server(tmp_path: Path) -> PrivateRedis:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server  # type: ignore[misc]
    server.stop()


def seeded(data: Path) -> dict[str, str]:
    cli(data, "user", "add", "carol", "--password-stdin", stdin=PASSWORD + "\n")
    return json.loads(cli(data, "session", "create", "--owner", "carol", "--case-label", "K"))  # type: ignore[no-any-return]


async def join_and_record(
    running: Cluster, created: dict[str, str], family_on: str, practitioner_on: str
) -> tuple[SimulatedFamily, SimulatedFamily, dict[str, object]]:
    token = created["family_link"].rsplit("/", 1)[1]
    family = SimulatedFamily(running.ws(family_on), token, media())
    practitioner = SimulatedFamily(
        running.ws(practitioner_on),
        await practitioner_token(running.http(practitioner_on), created["session_id"]),
    )
    await family.join()
    await practitioner.join(with_media=False)
    await family.send({"type": "consent", "version": CONSENT_VERSION, "purposes": ["analysis"]})
    await practitioner.wait_for("consent", confirmed=True)
    for _ in range(100):  # the family's video reaches the room's process
        await practitioner.send({"type": "record", "action": "start"})
        reply = await practitioner.wait_for_any(
            ("recording", "error"), len(practitioner.messages) - 1
        )
        if reply["type"] == "recording" and reply["state"] == "recording":
            return family, practitioner, reply
        await asyncio.sleep(0.1)
    raise AssertionError("recording never started")


async def test_family_and_practitioner_on_two_processes_share_one_recorded_call(
    tmp_path: Path, redis_server: PrivateRedis
) -> None:
    data = tmp_path / "data"
    created = seeded(data)
    async with cluster(data, redis_server.url, tmp_path / "cluster.log") as running:
        family, practitioner, started = await join_and_record(running, created, "w0", "w1")
        # One room: the practitioner, on the other process, sees the family in its roster.
        rosters = [m for m in practitioner.messages if m["type"] == "participants"]
        assert "family" in {p["role"] for p in rosters[-1]["participants"]}
        await asyncio.sleep(3.0)
        await practitioner.send({"type": "record", "action": "stop"})
        await practitioner.wait_for("recording", state="stopped")
        # Ending the session over REST on the process without the room reaches both.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            base = running.http("w1")
            login = {"username": "carol", "password": PASSWORD}
            async with http.post(f"{base}/api/login", json=login) as response:
                csrf = (await response.json())["csrf"]
            url = f"{base}/api/sessions/{created['session_id']}/end"
            async with http.post(url, headers={"X-CSRF-Token": csrf}) as response:
                assert response.status == 200
        await family.wait_for("ended")
        await practitioner.wait_for("ended")  # through the relay
        await family.close()
        await practitioner.close()
    folder = data / "cases" / created["case_id"] / str(started["recording_id"])
    [segment] = sorted(p for p in folder.iterdir() if p.suffix == ".webm")
    with vault_of(data) as vault, vault.open(segment) as sealed:
        numbers, times = decoded_numbers(sealed)
    assert None not in numbers and len(numbers) >= 60  # 30 fps for 3 s, all decodable
    assert times[-1] - times[0] >= 2.5


async def test_the_rooms_process_killed_mid_recording_the_other_carries_it_on(
    tmp_path: Path, redis_server: PrivateRedis
) -> None:
    data = tmp_path / "data"
    created = seeded(data)
    async with cluster(data, redis_server.url, tmp_path / "cluster.log") as running:
        family, practitioner, started = await join_and_record(running, created, "w0", "w1")
        await asyncio.sleep(3.0)
        os.kill(running.workers["w0"][0], signal.SIGKILL)  # the room's process, mid-recording
        await family.close()
        await practitioner.close()
        # Both come back (as their pages do by themselves), to the other process.
        family, practitioner, resumed = await rejoin(running, created, "w1")
        assert resumed["recording_id"] == started["recording_id"]
        await asyncio.sleep(3.0)
        await practitioner.send({"type": "record", "action": "stop"})
        await practitioner.wait_for("recording", state="stopped")
        base = running.http("w1")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            login = {"username": "carol", "password": PASSWORD}
            async with http.post(f"{base}/api/login", json=login):
                pass
            async with http.get(f"{base}/api/cases/{created['case_id']}/recordings") as r:
                [listed] = (await r.json())["recordings"]
            async with http.get(f"{base}/api/recordings/{listed['id']}") as r:
                opened = await r.json()
        await family.close()
        await practitioner.close()
    # One recording: complete, both parts in it, the time nobody recorded marked as a gap.
    assert listed["id"] == started["recording_id"] and listed["status"] == "complete"
    assert listed["segments"] == 2
    kinds = [m["kind"] for m in opened["marks"]]
    assert "gap-start" in kinds and "gap-end" in kinds
    folder = data / "cases" / created["case_id"] / str(started["recording_id"])
    parts = sorted(p for p in folder.iterdir() if p.name.startswith("segment-"))
    assert [p.name for p in parts] == ["segment-001.webm", "segment-002.webm"]
    decoded = []
    with vault_of(data) as vault:
        for part in parts:
            with vault.open(part) as sealed:
                decoded.append(decoded_numbers(sealed))
    (first_numbers, first_times), (second_numbers, second_times) = decoded
    assert None not in first_numbers and None not in second_numbers
    assert first_times[-1] >= 1.5  # what was recorded before the kill is kept (as a SIGKILL allows)
    assert len(second_numbers) >= 45  # and the carrying on is recorded
    assert second_times[0] > first_times[-1]  # on one timeline, after it
    assert opened["frames"]["count"] >= len(first_numbers) + len(second_numbers) - 2


async def rejoin(
    running: Cluster, created: dict[str, str], worker: str
) -> tuple[SimulatedFamily, SimulatedFamily, dict[str, object]]:
    token = created["family_link"].rsplit("/", 1)[1]
    family = SimulatedFamily(running.ws(worker), token, media())
    practitioner = SimulatedFamily(
        running.ws(worker), await practitioner_token(running.http(worker), created["session_id"])
    )
    await family.join()
    await practitioner.join(with_media=False)
    resumed = await practitioner.wait_for("recording", state="recording", timeout=15)
    return family, practitioner, resumed


async def test_a_redis_restart_mid_session_leaves_the_call_and_the_recording_going(
    tmp_path: Path, redis_server: PrivateRedis
) -> None:
    data = tmp_path / "data"
    created = seeded(data)
    async with cluster(data, redis_server.url, tmp_path / "cluster.log") as running:
        family, practitioner, started = await join_and_record(running, created, "w0", "w1")
        await asyncio.sleep(1.5)
        redis_server.stop()  # a crash: everything in it is gone
        await asyncio.sleep(2.0)
        await practitioner.send({"type": "ping"})  # the relayed socket still works
        await practitioner.wait_for("pong")
        redis_server.start()
        await asyncio.sleep(3.0)  # leases taken again, subscriptions rebuilt
        # Someone new can join again, on either process: here the practitioner's second page.
        again = SimulatedFamily(
            running.ws("w1"),
            await practitioner_token(running.http("w1"), created["session_id"]),
        )
        await again.join(with_media=False)
        state = await again.wait_for("recording")
        assert state["state"] == "recording" and state["recording_id"] == started["recording_id"]
        await again.send({"type": "record", "action": "stop"})
        await again.wait_for("recording", state="stopped")
        await again.close()
        await family.close()
        await practitioner.close()
    folder = data / "cases" / created["case_id"] / str(started["recording_id"])
    [segment] = sorted(p for p in folder.iterdir() if p.suffix == ".webm")
    with vault_of(data) as vault, vault.open(segment) as sealed:
        numbers, times = decoded_numbers(sealed)
    assert None not in numbers
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(steps) < 0.5, "the recording went on through the restart without a gap"
    assert times[-1] - times[0] >= 6.0
