"""Benchmark: does a login flood stall live video or cost recorded frames?

A vigremote server (a child process) relays one simulated family to one practitioner (the
viewer, also simulated here) and records it. The family sends numbered 320x240 30 fps VP8 with
grain at 1.5 Mbps (a browser camera's bit rate: a stall of 3 s overflows the server's UDP
receive buffer, 512 KB as aioice sets it) and Opus with a click each second (see
tests/support/av_timeline.py). Meanwhile N bad logins arrive at once, each from its own
loopback address (127.0.0.2...) against the practitioner's account, so the throttle lets them
all through to Argon2: the worst case for the event loop. Three runs, each on a fresh server:

- quiet: no flood (the viewer's natural inter-frame jitter);
- flood: the server as it is (Argon2 on its own low-priority threads);
- flood, Argon2 on the loop: the same server with the password checks run inline on the event
  loop and no throttle, as before (the baseline; its recorder is today's, so lost video shows
  up as gap marks rather than silently).

For each: the worst wait between two video frames at the viewer, the worst lateness of a 5 ms
timer on the server's event loop (a probe added by this script), how long the flood took, and
from the recorded file (decoded with PyAV): frames lost, frames broken, the worst audio/video
offset (each click against the frame shown with it), gap marks. About 40-60 s.

    python bench/loop_stall.py --logins 40 --json /tmp/loop-stall.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests.support` when run as a file

import aiohttp
import aiortc
import av

from bench.procs import free_port
from bench.recording import start_recording, until, wait_http
from tests.support.av_timeline import read_timeline, timeline_media
from tests.support.publisher import EncodedMedia, SimulatedFamily

USER, PASSWORD = "bench", "bench password 123"
CLI = [sys.executable, "-m", "vigremote.cli"]
LOOP_SECONDS = 20
WARM_S = 3.0
AFTER_FLOOD_S = 4.0
WAIT_S = 30.0
VIDEO_BIT_RATE = 1_500_000  # a browser camera at 640x480


@dataclass
class Run:
    """One server's run."""

    name: str
    logins: int
    worst_stall_ms: float = 0.0  # the longest wait between two video frames at the viewer
    server_loop_lag_ms: float = 0.0  # the server's event loop: worst lateness of a 5 ms timer
    viewer_frames: int = 0
    flood_s: float = 0.0  # from the first request to the last answer
    answers: dict[str, int] = field(default_factory=dict)  # HTTP status -> count
    frames_sent: int = 0  # by the publisher while recording
    frames_recorded: int = 0
    frames_lost: int = 0  # numbers missing in the recording
    frames_broken: int = 0  # recorded but undecodable or garbled (their reference was lost)
    av_offset_ms: float = 0.0  # the worst |click - its frame| in the recording
    clicks_matched: int = 0
    worst_video_hole_ms: float = 0.0  # in the recording
    gap_marks: int = 0
    publisher_state: str = ""


@dataclass
class Viewer(SimulatedFamily):
    """A practitioner who watches: notes when each video frame arrives."""

    video_times: list[float] = field(default_factory=list)

    async def _consume(self, track: Any, keep: bool) -> None:
        try:
            while True:
                await track.recv()
                if track.kind == "video":
                    self.video_times.append(time.monotonic())
        except Exception:  # the track ended
            return


def worst_gap_ms(times: list[float], start: float, end: float) -> float:
    """The longest wait for a frame in [start, end], counting from the last frame before."""
    before = [t for t in times if t < start]
    points = [before[-1] if before else start, *(t for t in times if start <= t <= end), end]
    return round(max(b - a for a, b in zip(points, points[1:], strict=False)) * 1000, 1)


async def practitioner_token(url: str, session_id: str) -> str:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = {"username": USER, "password": PASSWORD}
        async with http.post(f"{url}/api/login", json=login) as response:
            response.raise_for_status()
            csrf = (await response.json())["csrf"]
        async with http.post(
            f"{url}/api/sessions/{session_id}/join-token", headers={"X-CSRF-Token": csrf}
        ) as response:
            response.raise_for_status()
            return str((await response.json())["token"])


async def loop_lag_ms(url: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/bench/loop-lag") as response:
        return float((await response.json())["worst_ms"])


async def flood(url: str, logins: int) -> tuple[float, dict[str, int]]:
    """`logins` wrong passwords at once, each from its own loopback address."""

    async def one(index: int) -> int:
        address = f"127.0.{index // 250}.{index % 250 + 2}"
        connector = aiohttp.TCPConnector(local_addr=(address, 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            login = {"username": USER, "password": f"wrong guess {index}"}
            async with http.post(f"{url}/api/login", json=login) as response:
                await response.read()
                return response.status

    started = time.monotonic()
    statuses = await asyncio.gather(*(one(i) for i in range(logins)))
    answers: dict[str, int] = {}
    for status in statuses:
        answers[str(status)] = answers.get(str(status), 0) + 1
    return time.monotonic() - started, answers


async def drive(url: str, created: dict[str, Any], media: EncodedMedia, run: Run) -> str:
    await wait_http(f"{url}/api/openapi.json")
    token = await practitioner_token(url, created["session_id"])
    ws_url = url.replace("http", "ws", 1) + "/ws"
    viewer = Viewer(ws_url, token)
    family = SimulatedFamily(ws_url, created["family_link"].rsplit("/", 1)[1], media)
    try:
        await viewer.join()
        await family.join()
        recording_id = await start_recording(family, viewer)
        sent0 = sum(t.sent for t in _video_tracks(family))
        await asyncio.sleep(WARM_S)
        await loop_lag_ms(url)
        window_start = time.monotonic()
        if run.logins:
            run.flood_s, run.answers = await flood(url, run.logins)
        await asyncio.sleep(AFTER_FLOOD_S)
        run.worst_stall_ms = worst_gap_ms(viewer.video_times, window_start, time.monotonic())
        run.server_loop_lag_ms = await loop_lag_ms(url)
        run.viewer_frames = len(viewer.video_times)
        run.frames_sent = sum(t.sent for t in _video_tracks(family)) - sent0
        run.publisher_state = family.pc.connectionState if family.pc else "none"
        before = len(viewer.messages)
        await viewer.send({"type": "record", "action": "stop"})
        await until(
            lambda: any(
                m["type"] == "recording" and m["state"] == "stopped"
                for m in viewer.messages[before:]
            ),
            "the recording to stop",
        )
        return recording_id
    finally:
        await family.close()
        await viewer.close()


def _video_tracks(family: SimulatedFamily) -> list[Any]:
    senders = family.pc.getSenders() if family.pc is not None else []
    return [s.track for s in senders if s.track is not None and s.track.kind == "video"]


def prepare(data: Path, port: int) -> dict[str, Any]:
    common = ["--data", str(data), "--port", str(port)]
    add = [*CLI, "user", "add", USER, "--password-stdin", *common]
    subprocess.run(add, input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    args = [*CLI, "session", "create", "--owner", USER, "--case-label", "Bench", *common]
    done = subprocess.run(args, text=True, check=True, capture_output=True)
    return dict(json.loads(done.stdout))


def run_one(work: Path, name: str, logins: int, inline: bool, media: EncodedMedia) -> Run:
    data, port = work / name.replace(" ", "-").replace(",", ""), free_port()
    created = prepare(data, port)
    serve = ["serve", "--data", str(data), "--port", str(port)]
    args = [sys.executable, __file__, "--serve-inline" if inline else "--serve", *serve]
    log = (work / f"{data.name}.log").open("wb")
    server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    run = Run(name, logins)
    try:
        recording_id = asyncio.run(drive(f"http://127.0.0.1:{port}", created, media, run))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()
    files = sorted(data.glob(f"cases/*/{recording_id}/segment-*"))
    if len(files) != 1:
        raise RuntimeError(f"expected one segment, found {files}")
    timeline = read_timeline(files[0], loop_frames=LOOP_SECONDS * media.fps, fps=media.fps)
    run.frames_recorded = timeline.frames
    run.frames_lost = timeline.frames_lost
    run.frames_broken = timeline.undecodable + timeline.unreadable
    run.av_offset_ms = timeline.worst_av_offset_ms
    run.clicks_matched = timeline.clicks_matched
    run.worst_video_hole_ms = timeline.worst_video_hole_ms
    with sqlite3.connect(data / "vigremote.sqlite3") as db:
        query = "SELECT COUNT(*) FROM recording_marks WHERE recording_id = ? AND kind = 'gap-start'"
        run.gap_marks = int(db.execute(query, (recording_id,)).fetchone()[0])
    return run


def serve(argv: list[str], inline: bool) -> None:
    """The vigremote server with a probe of its event loop (GET /bench/loop-lag: the worst
    lateness of a 5 ms timer since the last call). With `inline`, the baseline: password
    checks inline on the event loop and no throttle, as before."""
    from aiohttp import web

    from vigremote import auth, cli, throttle

    create_app = cli.create_app

    def create_probed_app(config: Any) -> web.Application:
        app = create_app(config)
        worst = [0.0]
        probe: list[asyncio.Task[None]] = []

        async def watch() -> None:
            while True:
                t0 = time.monotonic()
                await asyncio.sleep(0.005)
                worst[0] = max(worst[0], time.monotonic() - t0 - 0.005)

        async def lag(request: web.Request) -> web.Response:
            value, worst[0] = worst[0], 0.0
            return web.json_response({"worst_ms": round(value * 1000, 1)})

        async def probe_ctx(app: web.Application) -> Any:
            probe.append(asyncio.create_task(watch()))
            yield
            probe[0].cancel()

        app.cleanup_ctx.append(probe_ctx)
        app.router.add_get("/bench/loop-lag", lag)
        return app

    setattr(cli, "create_app", create_probed_app)  # noqa: B010
    if not inline:
        raise SystemExit(cli.main(argv))

    async def verify_inline(self: auth.Passwords, password_hash: str, password: str) -> bool:
        return self.verify(password_hash, password)

    async def dummy_inline(self: auth.Passwords) -> None:
        self.dummy_verify()

    def admit_all(self: throttle.LoginThrottle, account: str, address: str) -> throttle.Attempt:
        return throttle.Attempt(account, address, counted_for_account=False)

    setattr(auth.Passwords, "verify_async", verify_inline)  # noqa: B010
    setattr(auth.Passwords, "dummy_verify_async", dummy_inline)  # noqa: B010
    setattr(throttle.LoginThrottle, "admit", admit_all)  # noqa: B010
    raise SystemExit(cli.main(argv))


ROWS = [  # (label, field, format)
    ("worst video stall at viewer, ms", "worst_stall_ms", ".0f"),
    ("worst server event-loop lag, ms", "server_loop_lag_ms", ".0f"),
    ("flood answered in, s", "flood_s", ".2f"),
    ("answers", "answers", ""),
    ("frames sent while recording", "frames_sent", "d"),
    ("frames recorded", "frames_recorded", "d"),
    ("frames lost in recording", "frames_lost", "d"),
    ("frames broken in recording", "frames_broken", "d"),
    ("worst A/V offset, ms", "av_offset_ms", ".1f"),
    ("clicks matched to frames", "clicks_matched", "d"),
    ("longest hole in recorded video, ms", "worst_video_hole_ms", ".0f"),
    ("gap marks", "gap_marks", "d"),
    ("publisher at the end", "publisher_state", ""),
]


def print_table(runs: list[Run]) -> None:
    width = 36
    print("\n" + " " * width + "".join(f"{r.name:>28}" for r in runs))
    for label, key, fmt in ROWS:
        cells = []
        for run in runs:
            value = getattr(run, key)
            if isinstance(value, dict):
                text = " ".join(f"{k}x{v}" for k, v in sorted(value.items())) or "-"
            else:
                text = format(value, fmt)
            cells.append(f"{text:>28}")
        print(f"{label:{width}}" + "".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=40, help="bad logins sent at once")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the data folders")
    args = parser.parse_args()
    media = timeline_media(LOOP_SECONDS, bit_rate=VIDEO_BIT_RATE, grain=True)
    work = Path(tempfile.mkdtemp(prefix="vig-loop-stall-"))
    started = time.monotonic()
    runs = [
        run_one(work, "quiet", 0, False, media),
        run_one(work, "flood", args.logins, False, media),
        run_one(work, "flood, Argon2 on the loop", args.logins, True, media),
    ]
    print_table(runs)
    result = {
        "logins": args.logins,
        "worst_stall_ms": runs[1].worst_stall_ms,
        "frames_lost": runs[1].frames_lost,
        "av_offset_ms": runs[1].av_offset_ms,
        "baseline_worst_stall_ms": runs[2].worst_stall_ms,
        "baseline_frames_lost": runs[2].frames_lost,
        "baseline_av_offset_ms": runs[2].av_offset_ms,
        "runs": [asdict(r) for r in runs],
        "seconds": round(time.monotonic() - started, 1),
        "versions": {"python": platform.python_version(), "aiortc": aiortc.__version__},
        "av": av.__version__,
        "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "data": str(work) if args.keep else None,
    }
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(f"\n{result['seconds']} s; worst stall {runs[1].worst_stall_ms:.0f} ms under the flood")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("--serve", "--serve-inline"):
        serve(sys.argv[2:], inline=sys.argv[1] == "--serve-inline")
    sys.exit(main())
