"""Benchmark: server CPU per recorded session-minute, vigremote against plain aiortc.

N simulated families send pre-encoded 640x480 30 fps VP8 + Opus (cheap: no encoding at run time).
They are recorded first by a vigremote server (passthrough: encoded frames muxed as they arrive),
then by a minimal aiortc server using `aiortc.contrib.media.MediaRecorder` (decode, re-encode).
Each server is a child process, so only its CPU is measured (utime + stime from /proc, over the
recording window); the publishers run here and their cost is ignored. Every recorded file is
decoded afterwards to prove it holds real video.

    python bench/recording.py --sessions 4 --seconds 20 --json /tmp/bench-rec.json

Exits non-zero if vigremote recorded under 80% of the expected frames for any session.

MediaRecorder encodes on the server's event loop. Past about one 640x480 stream per core it
falls behind, and its CPU per session-minute stops growing with the load it was given. The
loop also stalls, so publishers may be disconnected by failed ICE consent checks. The table
shows when that happens: frames it consumed, loop stalls, publisher states. So `ratio` and the
`*_cpu_s_per_session_min` figures are per session-minute actually recorded (for the baseline:
its CPU over the minutes of video it consumed); the plain per-window figures are kept as
`*_per_window_session_min`. At a load the baseline can carry (`--sessions 1`) both agree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests.support` when run as a file

import aiohttp
import aiortc
import av
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from bench.procs import cpu_seconds, free_port
from tests.support.publisher import (
    AUDIO_CLOCK,
    VIDEO_CLOCK,
    EncodedMedia,
    PacedPacketTrack,
    SimulatedFamily,
    encode_media,
)

FPS = 30
MIN_FRAME_SHARE = 0.8
WAIT_S = 30.0
USER, PASSWORD = "bench", "bench password 123"
CLI = [sys.executable, "-m", "vigremote.cli"]


@dataclass
class Phase:
    """One server's measurement: CPU over the recording window and what ended up on disk."""

    cpu_s: float = 0.0
    wall_s: float = 0.0
    client_cpu_s: float = 0.0  # this process (the publishers), for information only
    peak_rss_mb: float = 0.0  # the server's, at the end of the window
    frames_recorded: list[int] = field(default_factory=list)  # decoded from the files
    frames_sent_in_window: list[int] = field(default_factory=list)  # by the publishers
    publisher_states: list[str] = field(default_factory=list)  # at the end of the window
    loop_lag_max_s: float | None = None  # baseline only: the worst event-loop stall
    loadavg_1m: float = 0.0  # the machine's, as the window starts (others' load skews results)
    frames_consumed_in_window: list[int] = field(default_factory=list)  # baseline only
    files: list[str] = field(default_factory=list)

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s else 0.0


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def count_video_frames(paths: list[Path], vault: Any = None) -> int:
    """Decode every video frame: a file that only looks right on disk counts for nothing.
    vigremote's files are sealed: they are read through the data folder's `vault` (a
    vigremote.vault.files.Vault; not imported here, so the baseline's process never has it)."""
    total = 0
    for path in paths:
        try:
            with (
                vault.open(path) if vault else path.open("rb") as source,
                av.open(source, "r") as container,
            ):
                total += sum(1 for _ in container.decode(video=0))
        except (av.FFmpegError, OSError, IndexError) as exc:
            print(f"  could not decode {path.name}: {exc}", file=sys.stderr)
    return total


async def until(check: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(WAIT_S):
            while True:
                if check():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise TimeoutError(f"timed out waiting for {what}") from None


async def wait_http(url: str) -> None:
    """Until the child server answers HTTP at all (any status)."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(WAIT_S):
        while True:
            try:
                async with http.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)


def paced_video(pc: RTCPeerConnection | None) -> list[PacedPacketTrack]:
    tracks = [sender.track for sender in pc.getSenders()] if pc is not None else []
    return [t for t in tracks if isinstance(t, PacedPacketTrack) and t.kind == "video"]


async def measured_window(
    pid: int, seconds: float, phase: Phase, pcs: list[RTCPeerConnection | None]
) -> None:
    """Server CPU over exactly `seconds`, plus what the publishers sent meanwhile.

    A publisher's sender stops taking frames if its connection dies (e.g. its ICE consent
    checks go unanswered by a server whose event loop is blocked), so the count shows that.
    """
    tracks = [paced_video(pc) for pc in pcs]
    sent0 = [sum(t.sent for t in ts) for ts in tracks]
    phase.loadavg_1m = os.getloadavg()[0]
    cpu0, own0, t0 = cpu_seconds(pid), own_cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    phase.cpu_s = cpu_seconds(pid) - cpu0
    phase.wall_s = time.monotonic() - t0
    phase.client_cpu_s = own_cpu_seconds() - own0
    phase.peak_rss_mb = round(peak_rss_mb(pid), 1)
    phase.frames_sent_in_window = [
        sum(t.sent for t in ts) - n for ts, n in zip(tracks, sent0, strict=True)
    ]
    phase.publisher_states = [pc.connectionState if pc else "none" for pc in pcs]


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=Path.cwd())


def stop_child(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# -- vigremote ----------------------------------------------------------------------------------
def prepare_vigremote(data: Path, port: int, sessions: int) -> list[dict[str, Any]]:
    """A practitioner and N sessions, made through the CLI as an operator would."""
    common = ["--data", str(data), "--port", str(port)]
    add = [*CLI, "user", "add", USER, "--password-stdin", *common]
    subprocess.run(add, input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    created = []
    for index in range(sessions):
        args = [*CLI, "session", "create", "--owner", USER, "--case-label", f"Bench {index}"]
        done = subprocess.run([*args, *common], text=True, check=True, capture_output=True)
        created.append(json.loads(done.stdout))
    return created


async def practitioner_tokens(url: str, session_ids: list[str]) -> list[str]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = {"username": USER, "password": PASSWORD}
        async with http.post(f"{url}/api/login", json=login) as response:
            response.raise_for_status()
            csrf = (await response.json())["csrf"]
        tokens = []
        for session_id in session_ids:
            async with http.post(
                f"{url}/api/sessions/{session_id}/join-token", headers={"X-CSRF-Token": csrf}
            ) as response:
                response.raise_for_status()
                tokens.append((await response.json())["token"])
        return tokens


async def start_recording(family: SimulatedFamily, practitioner: SimulatedFamily) -> str:
    """Consent (family), then record start (practitioner), retried until the camera is live."""
    await until(lambda: any("wording" in m for m in family.messages), "consent wording")
    wording = next(m["wording"] for m in family.messages if "wording" in m)
    await family.send({"type": "consent", "version": wording["version"], "purposes": ["analysis"]})
    await until(
        lambda: any(m["type"] == "consent" and m["consent"] for m in practitioner.messages),
        "consent to reach the practitioner",
    )
    deadline = time.monotonic() + 20
    while True:
        before = len(practitioner.messages)
        await practitioner.send({"type": "record", "action": "start"})
        reply = await practitioner.wait_for_any(("recording", "error"), after_index=before)
        if reply["type"] == "recording" and reply["state"] == "recording":
            return str(reply["recording_id"])
        if reply.get("code") != "no-family-video" or time.monotonic() > deadline:
            raise RuntimeError(f"recording did not start: {reply}")
        await asyncio.sleep(0.2)


async def stop_recording(practitioner: SimulatedFamily) -> None:
    before = len(practitioner.messages)
    await practitioner.send({"type": "record", "action": "stop"})
    await until(
        lambda: any(
            m["type"] == "recording" and m["state"] == "stopped"
            for m in practitioner.messages[before:]
        ),
        "the recording to stop",
    )


async def drive_vigremote(
    pid: int, url: str, created: list[dict[str, Any]], media: EncodedMedia, seconds: float
) -> tuple[Phase, list[str]]:
    await wait_http(f"{url}/api/me")
    tokens = await practitioner_tokens(url, [c["session_id"] for c in created])
    ws_url = url.replace("http", "ws", 1) + "/ws"
    practitioners = [SimulatedFamily(ws_url, token) for token in tokens]
    families = [SimulatedFamily(ws_url, c["family_link"].rsplit("/", 1)[1], media) for c in created]
    phase = Phase()
    try:
        await asyncio.gather(*(p.join(with_media=False) for p in practitioners))
        await asyncio.gather(*(f.join() for f in families))
        recording_ids = await asyncio.gather(
            *(start_recording(f, p) for f, p in zip(families, practitioners, strict=True))
        )
        await measured_window(pid, seconds, phase, [f.pc for f in families])
        await asyncio.gather(*(stop_recording(p) for p in practitioners))
    finally:
        for client in [*families, *practitioners]:
            await client.close()
    return phase, list(recording_ids)


def run_vigremote(work: Path, sessions: int, seconds: float, media: EncodedMedia) -> Phase:
    data, port = work / "vigremote-data", free_port()
    created = prepare_vigremote(data, port, sessions)
    server = spawn([*CLI, "serve", "--data", str(data), "--port", str(port)], work / "vig.log")
    try:
        url = f"http://127.0.0.1:{port}"
        phase, recording_ids = asyncio.run(
            drive_vigremote(server.pid, url, created, media, seconds)
        )
    finally:
        stop_child(server)
    from vigremote.config import Config
    from vigremote.keys import load_master_key
    from vigremote.records import open_records

    records = open_records(Config(data, master_key=load_master_key(data, create=False)))
    try:
        for recording_id in recording_ids:
            files = sorted(data.glob(f"cases/*/{recording_id}/segment-*"))
            phase.files += [str(f.relative_to(data)) for f in files]
            phase.frames_recorded.append(count_video_frames(files, records.vault))
    finally:
        records.close()
    return phase


# -- baseline: plain aiortc, MediaRecorder --------------------------------------------------------
class CountingTrack(MediaStreamTrack):
    """Passes a remote track's frames on and counts them (shows whether the recorder keeps up)."""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self.frames = 0

    async def recv(self) -> Any:
        frame = await self._source.recv()
        self.frames += 1
        return frame


def baseline_server(port: int, out: Path) -> None:
    """The aiortc examples/server recipe: answer an offer, MediaRecorder every received track."""
    import aiortc.codecs
    import aiortc.rtcrtpreceiver
    from aiohttp import web
    from aiortc.contrib.media import MediaRecorder

    decoding = getattr(aiortc.rtcrtpreceiver, "get_decoder") is aiortc.codecs.get_decoder  # noqa: B009
    if not decoding or any(name.startswith("vigremote") for name in sys.modules):
        raise SystemExit("the baseline must decode with stock aiortc")
    peers: dict[str, tuple[RTCPeerConnection, MediaRecorder, list[CountingTrack]]] = {}

    async def offer(request: web.Request) -> web.Response:
        body = await request.json()
        name = str(body["name"])
        pc, recorder = RTCPeerConnection(), MediaRecorder(str(out / f"{name}.webm"))
        counted: list[CountingTrack] = []
        peers[name] = (pc, recorder, counted)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            counting = CountingTrack(track)
            counted.append(counting)
            recorder.addTrack(counting)

        await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))
        await recorder.start()
        await pc.setLocalDescription(await pc.createAnswer())
        answer = pc.localDescription
        return web.json_response({"sdp": answer.sdp, "type": answer.type})

    lag = {"max_s": 0.0}
    background: list[asyncio.Task[None]] = []

    async def watch_loop() -> None:
        """How late the event loop runs a 0.1 s timer: MediaRecorder encodes on the loop."""
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(0.1)
            lag["max_s"] = max(lag["max_s"], time.monotonic() - t0 - 0.1)

    async def start_watch(app: web.Application) -> None:
        background.append(asyncio.create_task(watch_loop()))

    async def status(request: web.Request) -> web.Response:
        videos = {
            n: sum(t.frames for t in c if t.kind == "video") for n, (_, _, c) in peers.items()
        }
        return web.json_response({"video_frames": videos, "loop_lag_max_s": lag["max_s"]})

    async def stop(request: web.Request) -> web.Response:
        for pc, recorder, _ in peers.values():
            await recorder.stop()
            await pc.close()
        return web.json_response({"stopped": len(peers)})

    app = web.Application()
    app.on_startup.append(start_watch)
    app.router.add_post("/offer", offer)
    app.router.add_get("/status", status)
    app.router.add_post("/stop", stop)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def baseline_publisher(url: str, name: str, media: EncodedMedia) -> RTCPeerConnection:
    """The same paced VP8 + Opus tracks as SimulatedFamily, offered straight to the server."""
    pc = RTCPeerConnection()
    start: list[float] = []
    video = [data for data, _ in media.video]
    pc.addTransceiver(PacedPacketTrack("audio", media.audio, 0.02, AUDIO_CLOCK, start), "sendonly")
    transceiver = pc.addTransceiver(
        PacedPacketTrack("video", video, 1 / media.fps, VIDEO_CLOCK, start), "sendonly"
    )
    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.name in ("VP8", "rtx")])
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"name": name, "sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    async with aiohttp.ClientSession() as http, http.post(f"{url}/offer", json=offer) as reply:
        reply.raise_for_status()
        answer = await reply.json()
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
    return pc


async def drive_baseline(
    pid: int, url: str, sessions: int, media: EncodedMedia, seconds: float
) -> Phase:
    await wait_http(f"{url}/status")
    names = [f"session-{index}" for index in range(sessions)]
    phase = Phase()
    pcs: list[RTCPeerConnection] = []
    async with aiohttp.ClientSession() as http:

        async def counts() -> dict[str, int]:
            async with http.get(f"{url}/status") as response:
                status = await response.json()
            phase.loop_lag_max_s = round(status["loop_lag_max_s"], 3)
            return dict(status["video_frames"])

        try:
            pcs += await asyncio.gather(*(baseline_publisher(url, n, media) for n in names))
            async with asyncio.timeout(WAIT_S):
                while True:  # until every session's video is being recorded
                    current = await counts()
                    if min(current.get(n, 0) for n in names) >= FPS:
                        break
                    await asyncio.sleep(0.1)
            before = await counts()
            await measured_window(pid, seconds, phase, list(pcs))
            after = await counts()
            phase.frames_consumed_in_window = [after[n] - before[n] for n in names]
            async with http.post(f"{url}/stop") as response:
                response.raise_for_status()
        finally:
            for pc in pcs:
                await pc.close()
    return phase


def run_baseline(work: Path, sessions: int, seconds: float, media: EncodedMedia) -> Phase:
    out, port = work / "baseline-out", free_port()
    out.mkdir()
    args = [sys.executable, __file__, "--baseline-server", str(port), "--baseline-dir", str(out)]
    server = spawn(args, work / "baseline.log")
    try:
        url = f"http://127.0.0.1:{port}"
        phase = asyncio.run(drive_baseline(server.pid, url, sessions, media, seconds))
    finally:
        stop_child(server)
    for index in range(sessions):
        path = out / f"session-{index}.webm"
        phase.files.append(path.name)
        phase.frames_recorded.append(count_video_frames([path]))
    return phase


# -- report ---------------------------------------------------------------------------------------
def per_session_minute(phase: Phase, sessions: int, seconds: float) -> float:
    return phase.cpu_s / (sessions * seconds / 60)


def report(
    vig: Phase, base: Phase, sessions: int, base_sessions: int, seconds: float, media: str
) -> dict[str, Any]:
    vig_rate = per_session_minute(vig, sessions, seconds)
    base_rate = per_session_minute(base, base_sessions, seconds)
    expected = int(seconds * FPS)
    # MediaRecorder encodes on the event loop: once it falls behind (frames queue up), its CPU
    # per session-minute says how much CPU it got, not what the work costs. CPU per minute of
    # video it did consume is then the other figure (high side: undelivered frames are decoded).
    consumed_min = sum(base.frames_consumed_in_window) / FPS / 60
    base_recorded = base.cpu_s / consumed_min if consumed_min else None
    # The headline figures are per session-minute actually recorded: vigremote records every
    # frame (checked below), the baseline often only part of them (see the module docstring).
    base_headline = base_recorded if base_recorded is not None else base_rate
    return {
        "sessions": sessions,
        "baseline_sessions": base_sessions,
        "seconds": seconds,
        "vigremote_cpu_s_per_session_min": round(vig_rate, 4),
        "baseline_cpu_s_per_session_min": round(base_headline, 4),
        "ratio": round(base_headline / vig_rate, 2) if vig_rate > 0 else None,
        "baseline_cpu_s_per_window_session_min": round(base_rate, 4),
        "ratio_per_window_session_min": round(base_rate / vig_rate, 2) if vig_rate > 0 else None,
        "expected_frames_per_session": expected,
        "baseline_kept_up": all(f >= 0.9 * expected for f in base.frames_consumed_in_window),
        "vigremote_frames_ok": all(f >= MIN_FRAME_SHARE * expected for f in vig.frames_recorded),
        "vigremote": {
            **asdict(vig),
            "cores": round(vig.cores, 3),
            "cpu_s_per_session_min": vig_rate,
        },
        "baseline": {
            **asdict(base),
            "cores": round(base.cores, 3),
            "cpu_s_per_session_min": base_rate,
        },
        "versions": {
            "python": platform.python_version(),
            "aiortc": aiortc.__version__,
            "av": av.__version__,
        },
        "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "media": media,
    }


ROWS = [  # (label, key in each phase's JSON, format)
    ("server CPU s (window)", "cpu_s", ".2f"),
    ("window wall s", "wall_s", ".2f"),
    ("cores used", "cores", ".3f"),
    ("CPU s / session-minute", "cpu_s_per_session_min", ".3f"),
    ("frames recorded", "frames_recorded", ""),
    ("video frames sent (window)", "frames_sent_in_window", ""),
    ("publishers at window end", "publisher_states", ""),
    ("server peak RSS MB", "peak_rss_mb", ".0f"),
    ("publisher CPU s (info)", "client_cpu_s", ".2f"),
    ("load average at start", "loadavg_1m", ".2f"),
]


def _cell(value: Any, fmt: str) -> str:
    if isinstance(value, list) and value and isinstance(value[0], str):
        return ", ".join(f"{value.count(s)} {s}" for s in sorted(set(value)))
    if isinstance(value, list):
        return " ".join(map(str, value))
    return format(value, fmt)


def print_table(result: dict[str, Any]) -> None:
    vig, base = result["vigremote"], result["baseline"]
    sessions = f"{result['sessions']} (baseline {result['baseline_sessions']})"
    print(f"\n{sessions} sessions x {result['seconds']:g} s, {result['media']}")
    print(f"{'':28}{'vigremote':>20}{'baseline':>24}")
    for label, key, fmt in ROWS:
        print(f"{label:28}{_cell(vig[key], fmt):>20}{_cell(base[key], fmt):>24}")
    if base["frames_consumed_in_window"]:
        consumed = " ".join(map(str, base["frames_consumed_in_window"]))
        expected = result["expected_frames_per_session"]
        print(f"baseline frames consumed in the window: {consumed} (of {expected})")
    if base["loop_lag_max_s"] is not None:
        print(f"baseline event loop stalled up to {base['loop_lag_max_s']:.2f} s")
    print(
        "CPU s per recorded session-minute: vigremote"
        f" {result['vigremote_cpu_s_per_session_min']}, baseline"
        f" {result['baseline_cpu_s_per_session_min']};"
        f" ratio baseline / vigremote: {result['ratio']}"
    )
    print(f"(per session-minute of the window: ratio {result['ratio_per_window_session_min']})")
    if not result["baseline_kept_up"]:
        print(
            "the baseline fell behind (under 90% of the frames consumed): its CPU was capped by"
            " the machine, so only the per-recorded-minute ratio says what the work costs"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--baseline-sessions", type=int, help="sessions for the baseline (default: --sessions)"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--baseline-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        baseline_server(args.baseline_server, args.baseline_dir)
        return 0

    base_sessions = args.baseline_sessions or args.sessions
    work = Path(tempfile.mkdtemp(prefix="vigbench-"))
    try:
        print("encoding the publishers' media once...", flush=True)
        media = encode_media(frames=90, fps=FPS, width=640, height=480, gop=30)
        print(f"vigremote: {args.sessions} sessions, {args.seconds:g} s window", flush=True)
        vig = run_vigremote(work, args.sessions, args.seconds, media)
        print(f"baseline: {base_sessions} sessions, {args.seconds:g} s window", flush=True)
        base = run_baseline(work, base_sessions, args.seconds, media)
    except BaseException:
        for log in sorted(work.glob("*.log")):
            print(f"--- {log.name} (last lines)", file=sys.stderr)
            print("\n".join(log.read_text(errors="replace").splitlines()[-30:]), file=sys.stderr)
        raise
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    kbps = sum(len(data) for data, _ in media.video) * 8 * FPS / len(media.video) / 1000
    described = f"VP8 640x480 {FPS} fps {kbps:.0f} kbps (keyframe every {FPS}) + Opus"
    result = report(vig, base, args.sessions, base_sessions, args.seconds, described)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if not result["vigremote_frames_ok"]:
        print(
            f"FAIL: vigremote recorded under {MIN_FRAME_SHARE:.0%} of the frames", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
