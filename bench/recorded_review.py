"""Benchmark: what each control of a supervision call costs the server when the item is a
recorded shared review (both cameras and the clip it showed: three pictures), against the same
controls on a plain clip (one picture), in the same server and run.

A data folder is seeded as the server keeps one (sealed files, records opened with the run's
master key): a trainee, their supervisor and a peer; a filming recording and a clip of it
(640x480, 30 fps VP8 + Opus, numbered frames, a keyframe every 2 s); a recorded shared review
of that clip (the family's camera from 0 s, the practitioner's from 0.5 s, the same format) with
its playback events (the clip selected, played, paused, sought, played on); both shared with
the supervisor and the peer group. A vigremote server (`vigremote serve`, a child process)
plays a supervision call on both items to three aiortc viewers (trainee, supervisor, peer),
which receive every slot and keep the encoded frames (no decoding on our side).

For each item in turn (same server, same viewers), measured as bench/review.py measures, the
server's CPU read from /proc (utime + stime, all threads):
- `idle`: held, nothing asked (a held picture is resent now and then): cores;
- `play_1x`, `play_half`: playing at 1x and 0.5x: cores, and frames per second received on
  each video slot (a recorded review's clip slot is quiet while the review held its clip);
- `pause`, `seek`, `step`: per command, the time until every viewer has the expected picture
  on every slot (the number drawn on it, decoded with PyAV; timed at its last RTP packet's
  arrival, what a browser shows, as bench/review.py's `wire`), and the server's CPU for it
  (CPU from the command until aiortc's tracks released every picture, less the idle rate).
`ratio` is recorded review / clip for each control.

    python bench/recorded_review.py --json /tmp/bench-recorded-review.json [--tries 8]

Exits non-zero if a hold never showed the expected pictures or playing delivered too few frames.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests.support` when run as a file

import aiohttp
import av
from aiortc import RTCPeerConnection, RTCSessionDescription

from bench.procs import cpu_seconds, free_port
from bench.review import (
    MARKERS,
    client_config,
    install_rtp_probe,
    keep_log,
    new_master_key,
    spawn,
    stop_child,
    summary_ms,
    versions,
    wait_http,
)

FPS = 30
WIDTH, HEIGHT = 640, 480
PASSWORD = "bench password 123"
PURPOSES = ["analysis", "shared_review", "supervision"]
CLIP_FRAMES = 300
CAMERA_FRAMES = 600  # 20 s of the recorded review
PRACTITIONER_FROM_MS = 500
MIN_FRAME_SHARE = 0.8
# The review's player, as recorded: (t_s, event). The clip plays 1-5 s, is held on frame 120
# until 8 s, sought to 200 and held until 9 s, then plays on to its end (about 12.3 s).
EVENTS: list[tuple[float, dict[str, Any]]] = [
    (0.0, {"action": "select", "kind": "clip"}),
    (0.0, {"action": "seek", "frame": 0}),
    (1.0, {"action": "play", "frame": 0, "speed": 1}),
    (5.0, {"action": "pause", "frame": 120}),
    (8.0, {"action": "seek", "frame": 200}),
    (9.0, {"action": "play", "frame": 200, "speed": 1}),
    (12.33, {"action": "end", "frame": CLIP_FRAMES - 1}),
]


def seed(data: Path, master_key: bytes) -> dict[str, Any]:
    """The people, recordings, clip, events and shares, as the server keeps them."""
    from tests.support.recordings import make_recording
    from vigremote.auth import Passwords
    from vigremote.config import Config
    from vigremote.paths import case_dir, recording_dir
    from vigremote.records import open_records
    from vigremote.storage import new_id

    records = open_records(Config(data_dir=data, master_key=master_key))
    try:
        store, recordings = records.store, records.recordings
        hashed = Passwords().hash(PASSWORD)
        trainee = store.add_user("trainee", "Tess Trainee", "practitioner", hashed)
        supervisor = store.add_user("sam", "Sam Supervisor", "supervisor", hashed)
        peer = store.add_user("pete", "Pete Peer", "practitioner", hashed)
        records.supervision.link(trainee.id, supervisor.id, "bench")
        group = records.supervision.add_group("Peers", [trainee.id, peer.id])
        case = store.add_case(trainee.id, "Bench family")
        filming = store.add_session(case.id, "filming")
        consent = records.consents.record(
            case.id, PURPOSES, "bench", "family", session_id=filming.id
        )
        source = recordings.add(case.id, filming.id, consent.id, PURPOSES)
        folder = recording_dir(data, case.id, source.id)
        size = {"width": WIDTH, "height": HEIGHT, "with_audio": True}
        make_recording(records.vault, folder / "segment-001.webm", frames=CLIP_FRAMES, **size)
        recordings.add_segment(source.id, 1, "segment-001.webm", "VP8")
        recordings.set_status(source.id, "complete")
        clip_id = new_id()
        clip_file = f"{clip_id}.webm"
        (case_dir(data, case.id) / "clips").mkdir(parents=True, exist_ok=True)
        make_recording(
            records.vault, case_dir(data, case.id) / "clips" / clip_file, frames=CLIP_FRAMES, **size
        )
        records.clips.add_clip(
            {
                "id": clip_id,
                "case_id": case.id,
                "recording_id": source.id,
                "title": "Bench clip",
                "tags": [],
                "notes": "",
                "first_frame": 0,
                "last_frame": CLIP_FRAMES - 1,
                "start_s": 0.0,
                "duration_s": CLIP_FRAMES / FPS,
                "file_name": clip_file,
            }
        )
        review = store.add_session(case.id, "review")
        recorded = recordings.add(case.id, review.id, consent.id, PURPOSES)
        folder = recording_dir(data, case.id, recorded.id)
        make_recording(records.vault, folder / "family-001.webm", frames=CAMERA_FRAMES, **size)
        later = [PRACTITIONER_FROM_MS + round(i * 1000 / FPS) for i in range(CAMERA_FRAMES)]
        make_recording(
            records.vault,
            folder / "practitioner-002.webm",
            frames=CAMERA_FRAMES,
            times_ms=later,
            **size,
        )
        recordings.add_segment(recorded.id, 1, "family-001.webm", "VP8")
        recordings.add_segment(recorded.id, 2, "practitioner-002.webm", "VP8")
        events = [(t, {**e, "id": clip_id} if e["action"] == "select" else e) for t, e in EVENTS]
        for t_s, event in events:
            recordings.add_mark(recorded.id, t_s, "review", json.dumps(event), trainee.id)
        recordings.set_status(recorded.id, "complete")
        shares = []
        for kind, item in (("recording", recorded.id), ("clip", clip_id)):
            for audience in ("supervisor", f"group:{group}"):
                share = records.supervision.share(trainee.id, case.id, kind, item, audience)
                if audience == "supervisor":
                    shares.append(share.id)
        return {"shares": shares, "clip_id": clip_id, "events": events, "later_ms": later}
    finally:
        records.close()


class CallViewer:
    """One person in the call: every slot received, video frames kept (encoded) per slot."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[dict[str, Any]] = []
        self.video: dict[str, list[tuple[float, Any]]] = {}
        self.receivers: dict[str, Any] = {}
        self.pc: RTCPeerConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None
        self._ws: Any = None

    async def join(self, url: str, call_id: str) -> None:
        self._http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        body = {"username": self.name, "password": PASSWORD}
        async with self._http.post(f"{url}/api/login", json=body) as response:
            csrf = (await response.json())["csrf"]
        async with self._http.post(
            f"{url}/api/supervision-calls/{call_id}/join-token", headers={"X-CSRF-Token": csrf}
        ) as response:
            token = (await response.json())["token"]
        self._ws = await self._http.ws_connect(url.replace("http", "ws", 1) + "/ws")
        self._tasks.append(asyncio.create_task(self._read()))
        await self.send({"type": "hello", "version": 1, "token": token})
        welcome = await self.wait_for("welcome", 0)
        self.pc = pc = RTCPeerConnection(client_config())
        slots = welcome["slots"]
        transceivers = [pc.addTransceiver(s["kind"], direction="recvonly") for s in slots]
        await pc.setLocalDescription(await pc.createOffer())
        after = len(self.messages)
        await self.send({"type": "offer", "sdp": pc.localDescription.sdp})
        answer = await self.wait_for("answer", after)
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        for slot, transceiver in zip(slots, transceivers, strict=True):
            kept = self.video.setdefault(slot["name"], []) if slot["kind"] == "video" else None
            if kept is not None:
                self.receivers[slot["name"]] = transceiver.receiver
            self._tasks.append(asyncio.create_task(self._consume(transceiver.receiver.track, kept)))

    async def _consume(self, track: Any, kept: list[tuple[float, Any]] | None) -> None:
        try:
            while True:
                frame = await track.recv()
                if kept is not None:
                    kept.append((time.monotonic(), frame))
        except Exception:  # the track ended or the connection closed
            return

    def arrival(self, slot: str, since: float, expected: int, pictures: Pictures) -> float | None:
        """When the first keyframe showing `expected` got here on `slot` after `since`: its last
        RTP packet's arrival (what a browser shows at once; aiortc's track only releases it
        when the next frame comes), or None if the slot already showed it."""
        for at, frame in self.video[slot]:
            if at >= since and frame.keyframe and pictures.number(frame) == expected:
                mapper = getattr(self.receivers[slot], "_RTCRtpReceiver__timestamp_mapper", None)
                origin = getattr(mapper, "_origin", None)
                if origin is None:
                    return at
                raw = (int(frame.pts) + origin) % (1 << 32)
                return MARKERS.get(id(self.receivers[slot]), {}).get(raw, at)
        return None

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send_str(json.dumps(message))

    async def wait_for(self, kind: str, after: int, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for message in self.messages[after:]:
                if message["type"] == "error":
                    raise RuntimeError(f"{self.name}: {message}")
                if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                    return message
            await asyncio.sleep(0.01)
        raise TimeoutError(f"{self.name}: no {kind} {match}")

    async def command(self, **fields: Any) -> dict[str, Any]:
        after = len(self.messages)
        await self.send({"type": "review", **fields})
        state = {"play": "playing"}.get(fields["action"], "paused")
        match = {} if fields["action"] in ("speed", "select") else {"state": state}
        return await self.wait_for("review-state", after, **match)

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        for task in self._tasks:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()


class Pictures:
    """The number on the last keyframe a viewer got on a slot (decoded alone; cached)."""

    def __init__(self) -> None:
        self._cache: dict[bytes, int | None] = {}

    def shown(self, frames: list[tuple[float, Any]]) -> int | None:
        key = next((f for _, f in reversed(frames) if f.keyframe), None)
        return None if key is None else self.number(key)

    def number(self, keyframe: Any) -> int | None:
        from tests.support.numbered_video import read_frame_number

        data = bytes(keyframe.data)
        if data not in self._cache:
            number = None
            for picture in av.CodecContext.create("vp8", "r").decode(av.Packet(data)):
                number = read_frame_number(picture.to_ndarray(format="rgb24"))
            self._cache[data] = number
        return self._cache[data]


def expected_pictures(kind: str, frame: int, seeded: dict[str, Any]) -> dict[str, int]:
    """What each slot must show at the item's frame `frame` (numbers drawn on frames)."""
    from vigremote.review.recorded import clip_on_screen, frame_at

    if kind == "clip":
        return {"clip": frame}
    t_ms = float(round(frame * 1000 / FPS))  # as the recorder's files time frames (ms)
    screen = clip_on_screen(tuple({"t_s": t, **e} for t, e in seeded["events"]), t_ms / 1000)
    clip_times = [float(round(i * 1000 / FPS)) for i in range(CLIP_FRAMES)]
    clip = screen.frame
    if screen.playing:
        clip = frame_at(clip_times, clip_times[clip] + (t_ms / 1000 - screen.since_s) * 1000)
    return {
        "recorded-family": frame,
        "recorded-practitioner": frame_at([float(t) for t in seeded["later_ms"]], t_ms),
        "clip": clip,
    }


async def settled(viewers: list[CallViewer], expected: dict[str, int], pictures: Pictures) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if all(pictures.shown(v.video[s]) == n for v in viewers for s, n in expected.items()):
            return True
        await asyncio.sleep(0.005)
    return False


async def cores_over(pid: int, seconds: float) -> float:
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)


async def measure_item(
    pid: int, viewers: list[CallViewer], kind: str, seeded: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    driver, pictures = viewers[0], Pictures()
    slots = (
        ["recorded-family", "recorded-practitioner", "clip"] if kind == "recording" else ["clip"]
    )
    out: dict[str, Any] = {"slots": slots, "missed": 0}
    await driver.command(action="seek", frame=0)
    await asyncio.sleep(1.0)
    out["idle_cores"] = idle = round(await cores_over(pid, args.window), 3)
    for name, speed in (("play_1x", 1.0), ("play_half", 0.5)):
        await driver.command(action="speed", speed=speed)
        await driver.command(action="seek", frame=15)
        await driver.command(action="play")
        await asyncio.sleep(0.5)
        start = time.monotonic()
        cores = await cores_over(pid, args.window)
        end = time.monotonic()
        fps = {
            slot: round(
                min(sum(1 for at, _ in v.video[slot] if start <= at < end) for v in viewers)
                / (end - start),
                1,
            )
            for slot in slots
        }
        await driver.command(action="pause")
        out[name] = {"cores": round(cores, 3), "min_fps_per_slot": fps}
    await driver.command(action="speed", speed=1.0)
    states = [m for m in driver.messages if m["type"] == "review-state"]
    frames = int(states[-1]["frames"])
    for action in ("pause", "seek", "step"):
        latencies, cpu = [], []
        for attempt in range(args.tries):
            fields: dict[str, Any] = {"action": action}
            if action == "pause":
                await driver.command(action="seek", frame=(40 + 37 * attempt) % (frames - 60))
                await driver.command(action="play")
                await asyncio.sleep(0.5 + 0.05 * attempt)
            elif action == "seek":
                fields["frame"] = (90 + 131 * attempt) % (frames - 2)
            else:
                fields["delta"] = 1 if attempt % 2 == 0 else -1
            cpu0, sent = cpu_seconds(pid), time.monotonic()
            state = await driver.command(**fields)
            expected = {
                s: n
                for s, n in expected_pictures(kind, int(state["frame"]), seeded).items()
                if s in slots
            }
            ok = await settled(viewers, expected, pictures)
            took = time.monotonic() - sent
            if not ok:
                out["missed"] += 1
                continue
            cpu.append(max(0.0, cpu_seconds(pid) - cpu0 - idle * took))
            arrivals = [
                v.arrival(slot, sent, number, pictures)
                for v in viewers
                for slot, number in expected.items()
            ]
            latencies.append(max((a for a in arrivals if a is not None), default=sent) - sent)
            await asyncio.sleep(0.3)
        out[action] = {
            "held_everywhere_ms": summary_ms(latencies),
            "cpu_ms_per_command": round(statistics.mean(cpu) * 1000, 1) if cpu else None,
        }
    return out


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from vigremote.keys import KEY_ENV
    from vigremote.media import passthrough

    passthrough.install()  # viewers keep encoded frames: no decoding on our side
    install_rtp_probe()
    work = Path(tempfile.mkdtemp(prefix="bench-recorded-"))
    data, log = work / "data", work / "server.log"
    key_text, master_key = new_master_key()
    seeded = await asyncio.to_thread(seed, data, master_key)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "vigremote.cli", "serve", "--port", str(port), "--data", str(data)]
    proc = spawn(cmd, log, env={**os.environ, KEY_ENV: key_text})
    viewers = [CallViewer(name) for name in ("trainee", "sam", "pete")]
    report: dict[str, Any] = {"versions": versions(), "viewers": len(viewers), "tries": args.tries}
    try:
        await wait_http(url + "/", proc, log)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(
                f"{url}/api/login", json={"username": "trainee", "password": PASSWORD}
            ) as r:
                csrf = (await r.json())["csrf"]
            async with http.post(
                f"{url}/api/supervision-calls",
                json={"shares": seeded["shares"]},
                headers={"X-CSRF-Token": csrf},
            ) as r:
                call_id = (await r.json())["call"]["id"]
        for viewer in viewers:
            await viewer.join(url, call_id)
        await viewers[0].wait_for("driver", 0, name="Tess Trainee")
        for index, kind in enumerate(("recording", "clip")):
            await viewers[0].command(action="select", item=index)
            await asyncio.sleep(1.0)
            report[kind] = await measure_item(proc.pid, viewers, kind, seeded, args)
    finally:
        await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)
        stop_child(proc)
        report["server_log"] = keep_log(log, None)
    report["ratio"] = ratios(report["recording"], report["clip"])
    return report


def ratios(recorded: dict[str, Any], clip: dict[str, Any]) -> dict[str, float | None]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    out = {
        name: ratio(recorded[name]["cores"], clip[name]["cores"])
        for name in ("play_1x", "play_half")
    }
    out["idle"] = ratio(recorded["idle_cores"], clip["idle_cores"])
    for action in ("pause", "seek", "step"):
        out[f"{action}_cpu"] = ratio(
            recorded[action]["cpu_ms_per_command"], clip[action]["cpu_ms_per_command"]
        )
        out[f"{action}_latency"] = ratio(
            recorded[action]["held_everywhere_ms"].get("median"),
            clip[action]["held_everywhere_ms"].get("median"),
        )
    return out


def print_report(report: dict[str, Any]) -> None:
    print(f"{report['viewers']} viewers, {report['tries']} tries per command")
    print(f"{'control':<12}{'recorded review':>26}{'clip':>26}{'ratio':>8}")
    for kind_name in ("idle", "play_1x", "play_half"):
        row = []
        for kind in ("recording", "clip"):
            item = report[kind]
            cores = item["idle_cores"] if kind_name == "idle" else item[kind_name]["cores"]
            row.append(f"{cores:.3f} cores")
        print(f"{kind_name:<12}{row[0]:>26}{row[1]:>26}{report['ratio'][kind_name]!s:>8}")
    for action in ("pause", "seek", "step"):
        row = []
        for kind in ("recording", "clip"):
            item = report[kind][action]
            median = item["held_everywhere_ms"].get("median")
            row.append(f"{item['cpu_ms_per_command']} ms CPU, {median} ms")
        print(f"{action:<12}{row[0]:>26}{row[1]:>26}{report['ratio'][f'{action}_cpu']!s:>8}")
    for kind in ("recording", "clip"):
        fps, missed = report[kind]["play_1x"]["min_fps_per_slot"], report[kind]["missed"]
        print(f"{kind}: min fps per slot at 1x {fps}, missed holds {missed}")


def problems(report: dict[str, Any]) -> list[str]:
    found = []
    for kind in ("recording", "clip"):
        if report[kind]["missed"]:
            found.append(
                f"{kind}: {report[kind]['missed']} holds never showed the expected pictures"
            )
        for slot, fps in report[kind]["play_1x"]["min_fps_per_slot"].items():
            if slot != "clip" or kind == "clip":  # the recorded clip is held part of the time
                if fps < MIN_FRAME_SHARE * FPS:
                    found.append(f"{kind}: {slot} received {fps} fps at 1x")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=8, help="commands of each kind per item")
    parser.add_argument("--window", type=float, default=4.0, help="seconds of each CPU window")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    report = asyncio.run(bench(args))
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    found = problems(report)
    for problem in found:
        print("PROBLEM:", problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
