"""Benchmark: server CPU while a clip plays to 1, 5 and 20 viewers, vigremote against aiortc.

A 640x480 30 fps VP8 + Opus recording (numbered frames, a keyframe every 2 s, written by the real
recorder writer) is seeded into a fresh data folder, sealed as the server seals its files
(vigremote/vault) under a master key made for the run and handed to the server in
`VIGREMOTE_MASTER_KEY`; a vigremote server (`vigremote serve`, a child process) cuts a clip from
it over REST and plays it, looping, in a shared review to one practitioner and N-1 observers: it
sends the clip's own packets to every viewer. The baseline is a minimal aiortc server (this file
with `--baseline-server`, a child process that never imports vigremote) giving every viewer its
own `MediaPlayer(clip, loop=True)` of a plain copy of the clip vigremote cut (decrypted with the
data folder's keys): it decodes the clip and aiortc re-encodes it, per viewer. For each viewer
count both run in turn on fresh processes and the server's CPU is read from /proc (utime +
stime, all threads) over the same playing window: cores = CPU seconds / wall seconds.

The viewers are aiortc clients in this process (measured too, so a saturated client is visible;
so is the machine's other load). They keep the *encoded* frames: this process installs
vigremote's passthrough hook, so receiving costs no decoding, for both servers alike. Every
vigremote viewer must receive at least 80% of 30 fps over the window, and one viewer's last
second or so of frames (from a keyframe) is decoded with PyAV. Where the baseline cannot keep up
(it delivers fewer frames), `ratio` flatters it: read `ratio_per_frame` (server CPU per video
frame a viewer received).

Playing starts from the held first frame, so the warm-up before the window (`warmup`, 5 s) also
shows what resuming costs: until the next original keyframe the player encodes the frames itself
(`resume_late_ms`: how late that keyframe arrived; `player_progress`: the player's own position).

The baseline's `MediaPlayer(loop=True)` loses its pacing after the first pass (aiortc #869,
#1268), so the clip is long enough (`--clip-seconds`, 30 s) for the whole run to stay inside the
first pass; the JSON says whether it did. It plays the same packets remuxed with audio and video
interleaved: in the file vigremote cuts, the audio follows the video (by 20 s in a 30 s clip),
and MediaPlayer, which reads in file order at most ~1 s ahead, would send the audio that late.

With `--hold-viewers` (5) viewers, the time from a pause, seek or step command to every viewer
holding the new sharp keyframe (read back from the number drawn on it) is measured twice:
- `wire`: the keyframe's last RTP packet (marker bit) reached the viewer: what a browser shows;
- `track`: aiortc handed the frame to the viewer's track. aiortc's jitter buffer releases a
  frame only when a packet of the *next* frame arrives, so a held picture (nothing follows it)
  reaches an aiortc track only with the player's first resend of it.

    python bench/review.py --viewers 1,5,20 --json /tmp/bench-review.json [--logs DIR]

Exits non-zero if vigremote delivered too few frames or undecodable ones.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests.support` when run as a file

import aiohttp
import aiortc
import av
from aiohttp import web
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from bench.procs import CLK_TCK, cpu_seconds, free_port

# Nothing from vigremote (or tests.support, which imports it) at module level: the baseline
# server runs this file and must stay plain aiortc.
if TYPE_CHECKING:
    from vigremote.vault.files import Vault

FPS = 30
WIDTH, HEIGHT = 640, 480
KEYFRAME_EVERY = 60
MIN_FRAME_SHARE = 0.8
WAIT_S = 30.0
USER, PASSWORD = "bench", "bench password 123"
PURPOSES = ["analysis", "shared_review", "supervision"]
SCRIPT = str(Path(__file__).resolve())
# rtp receiver id -> RTP timestamp -> arrival of the frame's last packet (marker bit)
MARKERS: dict[int, dict[int, float]] = {}


# -- processes and CPU ----------------------------------------------------------------------


def machine_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)


def stop_child(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def log_issues(log: Path, limit: int = 8) -> dict[str, Any]:
    """Warnings, errors and tracebacks a server wrote (first few lines of each kind)."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    bad = [
        line
        for line in lines
        if " WARNING " in line or " ERROR " in line or line.startswith("Traceback")
    ]
    return {"lines": len(lines), "issues": len(bad), "first": bad[:limit]}


def keep_log(log: Path, folder: Path | None) -> dict[str, Any]:
    """The log's problems; the whole log is copied to `folder` (--logs) if given."""
    if folder is not None and log.exists():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, folder / log.name)
    return log_issues(log)


async def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the child server answers HTTP at all (any status)."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(WAIT_S):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited ({proc.returncode}):\n{log_tail(log)}")
            try:
                async with http.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)


def log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def until(check: Any, what: str) -> None:
    try:
        async with asyncio.timeout(WAIT_S):
            while True:
                if check():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise TimeoutError(f"timed out waiting for {what}") from None


# -- viewers ---------------------------------------------------------------------------------
def install_rtp_probe() -> None:
    """Note when each frame's last RTP packet arrives (before aiortc's jitter buffer)."""
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    original = RTCRtpReceiver._handle_rtp_packet

    async def probe(self: Any, packet: Any, arrival_time_ms: int) -> None:
        if packet.marker:
            MARKERS.setdefault(id(self), {}).setdefault(packet.timestamp, time.monotonic())
        await original(self, packet, arrival_time_ms)

    RTCRtpReceiver._handle_rtp_packet = probe  # type: ignore[method-assign]


def client_config() -> RTCConfiguration:
    # No STUN (aiortc's default is a public host; there is no internet here), bundled as
    # browsers do: aiortc's default policy leaves a second video transceiver unconnected.
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class Viewer:
    """An aiortc client that keeps the arrival time of every received video frame."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pc: RTCPeerConnection | None = None
        self.video: list[tuple[float, Any]] = []
        self.audio_frames = 0
        self.receiver: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    def consume(self, receiver: Any, keep: bool) -> None:
        if keep:
            self.receiver = receiver
        self._tasks.append(asyncio.create_task(self._consume(receiver.track, keep)))

    async def _consume(self, track: Any, keep: bool) -> None:
        try:
            while True:
                frame = await track.recv()
                if keep:
                    self.video.append((time.monotonic(), frame))
                else:
                    self.audio_frames += 1
        except Exception:  # the track ended (MediaStreamError) or the connection closed
            return

    def frames_between(self, start: float, end: float) -> int:
        return sum(1 for at, _ in self.video if start <= at < end)

    def wire_time(self, frame: Any) -> float | None:
        """When the last packet of this received frame arrived (see install_rtp_probe)."""
        mapper = getattr(self.receiver, "_RTCRtpReceiver__timestamp_mapper", None)
        origin = getattr(mapper, "_origin", None)
        if origin is None:
            return None
        raw = (int(frame.pts) + origin) % (1 << 32)
        return MARKERS.get(id(self.receiver), {}).get(raw)

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        for task in self._tasks:
            task.cancel()


class VigViewer(Viewer):
    """A participant of a vigremote review: signalling socket, one offer, the clip received."""

    def __init__(self, name: str, ws_url: str, token: str) -> None:
        super().__init__(name)
        self.ws_url, self.token = ws_url, token
        self.messages: list[dict[str, Any]] = []
        self.received_at: list[float] = []  # of each message
        self._http: aiohttp.ClientSession | None = None
        self._ws: Any = None

    async def join(self) -> None:
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(self.ws_url)
        await self.send({"type": "hello", "version": 1, "token": self.token})
        self._tasks.append(asyncio.create_task(self._read()))
        welcome = await self.wait_for(("welcome", "error"), 0)
        if welcome["type"] != "welcome":
            raise RuntimeError(f"{self.name} could not join: {welcome}")
        pc = RTCPeerConnection(client_config())
        self.pc = pc
        slots = welcome["slots"]
        transceivers = [pc.addTransceiver(slot["kind"], direction="recvonly") for slot in slots]
        await pc.setLocalDescription(await pc.createOffer())
        after = len(self.messages)
        await self.send({"type": "offer", "sdp": pc.localDescription.sdp})
        answer = await self.wait_for(("answer", "error"), after)
        if answer["type"] != "answer":
            raise RuntimeError(f"{self.name}'s offer was refused: {answer}")
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        for slot, transceiver in zip(slots, transceivers, strict=True):
            if slot["name"] == "clip":
                self.consume(transceiver.receiver, keep=slot["kind"] == "video")

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send_str(json.dumps(message))

    async def wait_for(
        self,
        kinds: tuple[str, ...],
        after: int,
        within_s: float = 15.0,
        match: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The first message of one of these types (matching `match`) after message `after`."""
        match = match or {}
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for message in self.messages[after:]:
                if message["type"] == "error" and "error" in kinds:
                    return message
                if message["type"] in kinds and all(message.get(k) == v for k, v in match.items()):
                    return message
            await asyncio.sleep(0.01)
        raise TimeoutError(f"{self.name}: no {kinds} {match} within {within_s} s")

    async def command(self, **fields: Any) -> dict[str, Any]:
        """A review command; returns the review-state that reports it (or raises on error)."""
        after = len(self.messages)
        await self.send({"type": "review", **fields})
        match = {} if fields["action"] in ("loop", "speed") else {"state": _state_after(fields)}
        state = await self.wait_for(("review-state", "error"), after, match=match)
        if state["type"] == "error":
            raise RuntimeError(f"review command {fields} failed: {state}")
        return state

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.received_at.append(time.monotonic())
                self.messages.append(json.loads(msg.data))

    async def close(self) -> None:
        await super().close()
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()


def _state_after(fields: dict[str, Any]) -> str:
    return "playing" if fields["action"] == "play" else "paused"


class BaselineViewer(Viewer):
    """A viewer of the baseline server: receive-only video and audio, offer over HTTP."""

    async def connect(self, http: aiohttp.ClientSession, url: str) -> None:
        pc = RTCPeerConnection(client_config())
        self.pc = pc
        video = pc.addTransceiver("video", direction="recvonly")
        audio = pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        body = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
        async with http.post(f"{url}/offer", json=body) as response:
            response.raise_for_status()
            answer = await response.json()
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        self.consume(video.receiver, keep=True)
        self.consume(audio.receiver, keep=False)


# -- the baseline server (plain aiortc, run as a child process) ------------------------------
def run_baseline_server(port: int, clip: Path) -> None:
    """Every POST /offer gets its own MediaPlayer: decode the clip, aiortc re-encodes it."""
    from aiortc.contrib.media import MediaPlayer

    assert not any(name.startswith("vigremote") for name in sys.modules), "baseline imports us"
    peers: set[RTCPeerConnection] = set()
    players: list[Any] = []

    async def offer(request: web.Request) -> web.Response:
        body = await request.json()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        peers.add(pc)
        player = MediaPlayer(str(clip), loop=True)
        players.append(player)
        await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))
        assert player.video is not None, "the clip has no video"
        pc.addTrack(player.video)
        if player.audio is not None:
            pc.addTrack(player.audio)
        await pc.setLocalDescription(await pc.createAnswer())
        answer = pc.localDescription
        return web.json_response({"sdp": answer.sdp, "type": answer.type})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"peers": len(peers)})

    async def shutdown(app: web.Application) -> None:
        await asyncio.gather(*(pc.close() for pc in peers), return_exceptions=True)
        for player in players:
            for track in (player.audio, player.video):
                if track is not None:
                    track.stop()

    app = web.Application()
    app.router.add_post("/offer", offer)
    app.router.add_get("/health", health)
    app.on_shutdown.append(shutdown)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- the clip ----------------------------------------------------------------------------------
@dataclass
class ClipInfo:
    path: Path
    frames: int
    seconds: float
    keyframes: int
    video_kbps: float
    audio_packets: int
    audio_behind_s: float  # how far audio trails video in the file's packet order
    original_video: set[bytes] = field(repr=False)  # digests of the clip's own packets

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "seconds": round(self.seconds, 2),
            "size": f"{WIDTH}x{HEIGHT}",
            "fps": FPS,
            "keyframe_every": KEYFRAME_EVERY,
            "keyframes": self.keyframes,
            "video_kbps": round(self.video_kbps),
            "audio_packets": self.audio_packets,
            "audio_behind_video_in_file_s": round(self.audio_behind_s, 2),
            "codec": "VP8 + Opus (WebM)",
        }


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def read_clip(path: Path) -> ClipInfo:
    frames = keyframes = size = audio = 0
    video_at, behind = 0.0, 0.0
    originals: set[bytes] = set()
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size == 0 or packet.pts is None or packet.time_base is None:
                continue
            at = float(packet.pts * packet.time_base)
            if packet.stream.type == "audio":
                audio += 1
                behind = max(behind, video_at - at)
                continue
            video_at = max(video_at, at)
            frames += 1
            keyframes += int(packet.is_keyframe)
            size += packet.size
            originals.add(digest(bytes(packet)))
    seconds = frames / FPS
    kbps = size * 8 / seconds / 1000
    return ClipInfo(path, frames, seconds, keyframes, kbps, audio, behind, originals)


def _packet_order(packet: Any) -> tuple[float, bool]:
    """By time; at equal times video first."""
    return float(packet.pts * packet.time_base), packet.stream.type != "video"


def interleaved_copy(src: Path, dst: Path) -> Path:
    """The same packets, audio and video interleaved by time, for the baseline's MediaPlayer.

    MediaPlayer decodes in file order and reads at most ~1 s ahead of real time: from a file
    whose audio trails its video by seconds it sends the audio that much late.
    """
    with av.open(str(src)) as source, av.open(str(dst), "w", format="webm") as out:
        outputs = {s.index: out.add_stream_from_template(s) for s in source.streams}
        packets = [p for p in source.demux() if p.size and p.pts is not None and p.time_base]
        packets.sort(key=_packet_order)
        for packet in packets:
            packet.stream = outputs[packet.stream.index]
            out.mux(packet)
    return dst


def new_master_key() -> tuple[str, bytes]:
    """A fresh master key: (the text `VIGREMOTE_MASTER_KEY` holds, the key)."""
    from vigremote.keys import KEY_ENV, new_key_text, parse_key

    text = new_key_text()
    return text, parse_key(text, KEY_ENV)


def seed_data(
    data: Path, master_key: bytes, source: Vault, recording: Path, frames: int
) -> dict[str, str]:
    """A practitioner and a finished recording the family agreed to share, as the server keeps.

    The records are opened as the server opens them (with `master_key`, which the server must
    be given too); the recording, sealed in `source`, is sealed again into the case's folder.
    """
    from vigremote.auth import Passwords
    from vigremote.config import Config
    from vigremote.paths import recording_dir
    from vigremote.records import open_records

    records = open_records(Config(data_dir=data, master_key=master_key))
    try:
        store, recordings = records.store, records.recordings
        password_hash = Passwords().hash(PASSWORD)
        user = store.add_user(USER, "Bench Practitioner", "practitioner", password_hash)
        case = store.add_case(user.id, "Bench family")
        session = store.add_session(case.id, "filming")
        consent = records.consents.record(
            case.id, PURPOSES, "bench", "family", session_id=session.id
        )
        rec = recordings.add(case.id, session.id, consent.id, PURPOSES)
        target = recording_dir(data, case.id, rec.id) / "segment-001.webm"
        with source.open(recording) as plain, records.vault.create(target) as sealed:
            shutil.copyfileobj(plain, sealed, 1 << 20)
        recordings.add_segment(rec.id, 1, target.name, "VP8")
        recordings.set_progress(rec.id, frames / FPS, target.stat().st_size)
        recordings.set_status(rec.id, "complete")
        return {"case_id": case.id, "recording_id": rec.id}
    finally:
        records.close()


@contextmanager
def reading_vault(data: Path, master_key: bytes) -> Iterator[Vault]:
    """The data folder's vault for reading, beside a running server: its case keys are read
    over a read-only connection of our own (the server keeps writing its database)."""
    from vigremote.vault.files import Vault
    from vigremote.vault.keyring import Keyring

    db = sqlite3.connect(
        f"file:{data / 'vigremote.sqlite3'}?mode=ro", uri=True, check_same_thread=False
    )
    try:
        yield Vault(data, Keyring(db, master_key))
    finally:
        db.close()


def plain_copy(vault: Vault, sealed: Path, target: Path) -> Path:
    """A plain file of what `sealed` holds (for PyAV by path, and the baseline server)."""
    with vault.open(sealed) as source, target.open("wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    return target


# -- one measurement ---------------------------------------------------------------------------
@dataclass
class Window:
    """CPU and frames over one stretch of playing."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    cores: float = 0.0  # the server's
    viewer_process_cores: float = 0.0  # this process (all viewers), for information
    machine_busy_cores: float = 0.0  # the whole machine (other work on it shows here)
    other_cores: float = 0.0  # machine - server - viewers: load that is not ours
    frames: list[int] = field(default_factory=list)  # video frames received per viewer
    frames_expected: int = 0

    @property
    def frames_min(self) -> int:
        return min(self.frames) if self.frames else 0


@dataclass
class Phase:
    """One server's run at one viewer count: the measured window and the warm-up before it."""

    viewers: int
    window: Window = field(default_factory=Window)
    warmup: Window = field(default_factory=Window)  # vigremote: includes resuming from a hold
    server_rss_mb: float = 0.0
    frames_ok: bool = False
    audio_frames: list[int] = field(default_factory=list)  # over the whole run
    connection_states: list[str] = field(default_factory=list)
    decoded: dict[str, Any] = field(default_factory=dict)
    server_log: dict[str, Any] = field(default_factory=dict)
    setup_s: float = 0.0
    resume_late_ms: float | None = None  # vigremote: the first original keyframe after play
    # vigremote: the player's own position (s after play, frame) from its review-state messages,
    # to tell the server falling behind from the viewers receiving late
    player_progress: list[tuple[float, int]] = field(default_factory=list)
    cpu_ms_per_frame: float | None = None  # server CPU per video frame delivered to a viewer
    first_pass: bool | None = None  # baseline: the window ended inside MediaPlayer's first pass

    @property
    def cores(self) -> float:
        return self.window.cores


async def measure(pid: int, viewers: Sequence[Viewer], seconds: float) -> Window:
    """Server CPU (and ours, and the machine's) and frames over exactly `seconds`."""
    busy0, total0 = machine_seconds()
    cpu0, own0, t0 = cpu_seconds(pid), cpu_seconds(os.getpid()), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, own1, t1 = cpu_seconds(pid), cpu_seconds(os.getpid()), time.monotonic()
    busy1, total1 = machine_seconds()
    wall = t1 - t0
    machine = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1)
    window = Window(
        wall_s=round(wall, 3),
        cpu_s=round(cpu1 - cpu0, 3),
        cores=round((cpu1 - cpu0) / wall, 3),
        viewer_process_cores=round((own1 - own0) / wall, 3),
        machine_busy_cores=round(machine, 3),
        frames=[v.frames_between(t0, t1) for v in viewers],
        frames_expected=round(FPS * wall),
    )
    window.other_cores = round(max(0.0, machine - window.cores - window.viewer_process_cores), 3)
    return window


def finish(phase: Phase, pid: int, viewers: Sequence[Viewer]) -> None:
    """What is checked once the window is over, while the server still runs."""
    phase.server_rss_mb = rss_mb(pid)
    phase.frames_ok = phase.window.frames_min >= MIN_FRAME_SHARE * phase.window.frames_expected
    phase.connection_states = sorted({v.pc.connectionState for v in viewers if v.pc})
    phase.decoded = check_pictures(viewers[-1])
    phase.audio_frames = [v.audio_frames for v in viewers]
    delivered = sum(phase.window.frames)
    if delivered:
        phase.cpu_ms_per_frame = round(phase.window.cpu_s * 1000 / delivered, 3)


def check_pictures(viewer: Viewer) -> dict[str, Any]:
    """Decode one viewer's last frames (from a keyframe 30+ frames back): real VP8 pictures."""
    from tests.support.numbered_video import read_frame_number

    frames = [f for _, f in viewer.video]
    keys = [i for i, f in enumerate(frames) if getattr(f, "keyframe", False)]
    if not keys:
        return {"ok": False, "why": "no keyframe received", "frames": len(frames)}
    decoder = av.CodecContext.create("vp8", "r")
    pictures, errors, last = 0, 0, None
    start = next((k for k in reversed(keys) if len(frames) - k >= FPS), keys[0])
    for frame in frames[start:]:
        try:
            for picture in decoder.decode(av.Packet(frame.data)):
                pictures += 1
                last = picture
        except av.FFmpegError:
            errors += 1
    number = None if last is None else read_frame_number(last.to_ndarray(format="rgb24"))
    return {
        "ok": pictures > 0 and errors == 0,
        "decoded": pictures,
        "errors": errors,
        "size": None if last is None else f"{last.width}x{last.height}",
        "last_number": number,
    }


# -- vigremote ---------------------------------------------------------------------------------
async def login(http: aiohttp.ClientSession, url: str) -> str:
    body = {"username": USER, "password": PASSWORD}
    async with http.post(f"{url}/api/login", json=body) as response:
        response.raise_for_status()
        return str((await response.json())["csrf"])


async def post(http: aiohttp.ClientSession, url: str, csrf: str, body: Any = None) -> Any:
    async with http.post(url, json=body, headers={"X-CSRF-Token": csrf}) as response:
        if response.status >= 400:
            raise RuntimeError(f"POST {url}: {response.status} {await response.text()}")
        return await response.json()


async def prepare_review(url: str, seeded: dict[str, str], clip_frames: int) -> dict[str, Any]:
    """Cut the clip, make a review of it, and get the practitioner's join token (REST)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, url)
        body = {"first": 0, "last": clip_frames - 1, "title": "Bench clip"}
        cut = f"{url}/api/recordings/{seeded['recording_id']}/clips"
        clip = (await post(http, cut, csrf, body))["clip"]
        items = {"items": [{"kind": "clip", "id": clip["id"]}]}
        review = await post(http, f"{url}/api/cases/{seeded['case_id']}/reviews", csrf, items)
        session_id = review["session"]["id"]
        token = (await post(http, f"{url}/api/sessions/{session_id}/join-token", csrf))["token"]
    return {"clip": clip, "session_id": session_id, "token": token}


def clip_path(data: Path, case_id: str) -> Path:
    files = sorted((data / "cases" / case_id / "clips").glob("*.webm"))
    if len(files) != 1:
        raise RuntimeError(f"expected one clip file, found {files}")
    return files[0]


def observer_tokens(data: Path, session_id: str, count: int) -> list[str]:
    """Observers have no REST link: sign their tokens with the data folder's key."""
    from vigremote.auth import TokenSigner
    from vigremote.config import load_secret

    signer = TokenSigner(load_secret(data))
    return [
        signer.issue(session_id, "observer", f"obs-{i}", f"Observer {i}", 3600)
        for i in range(count)
    ]


async def run_vigremote(
    work: Path,
    source: Vault,
    recording: Path,
    recording_frames: int,
    args: argparse.Namespace,
    n: int,
) -> tuple[Phase, dict[str, Any] | None, Path]:
    """Play the clip to n viewers from a vigremote server; returns the phase, hold, and a plain
    copy of the clip file it cut."""
    from vigremote.keys import KEY_ENV

    data = work / f"vigremote-{n}"
    log = work / f"vigremote-{n}.log"
    key_text, master_key = new_master_key()
    seeded = seed_data(data, master_key, source, recording, recording_frames)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "vigremote.cli", "serve", "--port", str(port), "--data", str(data)]
    phase = Phase(n)
    proc = spawn(cmd, log, env={**os.environ, KEY_ENV: key_text})
    viewers: list[VigViewer] = []
    hold: dict[str, Any] | None = None
    try:
        await wait_http(url + "/", proc, log)
        review = await prepare_review(url, seeded, args.clip_frames)
        with reading_vault(data, master_key) as vault:
            clip_file = plain_copy(
                vault, clip_path(data, seeded["case_id"]), work / f"clip-cut-{n}.webm"
            )
        ws_url = url.replace("http", "ws", 1) + "/ws"
        started = time.monotonic()
        practitioner = VigViewer("practitioner", ws_url, review["token"])
        viewers = [practitioner] + [
            VigViewer(f"observer-{i}", ws_url, token)
            for i, token in enumerate(observer_tokens(data, review["session_id"], n - 1))
        ]
        await practitioner.join()
        await asyncio.gather(*(v.join() for v in viewers[1:]))
        await until(lambda: all(v.video for v in viewers), "every viewer's first (held) picture")
        phase.setup_s = round(time.monotonic() - started, 2)
        await practitioner.command(action="loop", on=True)
        clip = read_clip(clip_file)
        state = await practitioner.command(action="play")
        played_at = time.monotonic()
        phase.warmup = await measure(proc.pid, viewers, args.warmup)
        phase.window = await measure(proc.pid, viewers, args.window)
        finish(phase, proc.pid, viewers)
        phase.resume_late_ms = resume_lateness(viewers[0], clip, played_at, int(state["frame"]))
        phase.player_progress = [
            (round(at - played_at, 2), int(m["frame"]))
            for at, m in zip(practitioner.received_at, practitioner.messages, strict=True)
            if at >= played_at and m["type"] == "review-state" and m.get("state") == "playing"
        ][:25]
        if n == args.hold_viewers:
            hold = await hold_latency(practitioner, viewers, review["clip"], clip, args.hold_tries)
        return phase, hold, clip_file
    finally:
        await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)
        stop_child(proc)
        phase.server_log = keep_log(log, args.logs)


# -- hold latency ------------------------------------------------------------------------------
class PictureReader:
    """The number drawn on a keyframe, decoded on its own (cached: viewers share the bytes)."""

    def __init__(self) -> None:
        self._cache: dict[bytes, int | None] = {}

    def number(self, data: bytes) -> int | None:
        from tests.support.numbered_video import read_frame_number

        key = digest(data)
        if key not in self._cache:
            number = None
            try:
                for picture in av.CodecContext.create("vp8", "r").decode(av.Packet(data)):
                    number = read_frame_number(picture.to_ndarray(format="rgb24"))
            except av.FFmpegError:
                number = None
            self._cache[key] = number
        return self._cache[key]


async def held_everywhere(
    viewers: Sequence[Viewer],
    expected: int,
    sent_at: float,
    clip: ClipInfo,
    reader: PictureReader,
    within_s: float = 5.0,
) -> list[tuple[float, float | None]] | None:
    """(track, wire) arrival of the new held keyframe at each viewer, or None on a timeout."""
    found: dict[int, tuple[float, float | None]] = {}
    scanned = [
        next((i for i, (at, _) in enumerate(v.video) if at >= sent_at), len(v.video))
        for v in viewers
    ]
    deadline = time.monotonic() + within_s
    while len(found) < len(viewers) and time.monotonic() < deadline:
        for index, viewer in enumerate(viewers):
            while index not in found and scanned[index] < len(viewer.video):
                at, frame = viewer.video[scanned[index]]
                scanned[index] += 1
                if not frame.keyframe or digest(frame.data) in clip.original_video:
                    continue  # only the player's own sharp keyframes are holds
                if reader.number(frame.data) == expected:
                    found[index] = (at, viewer.wire_time(frame))
        await asyncio.sleep(0.01)
    return [found[i] for i in range(len(viewers))] if len(found) == len(viewers) else None


def summary_ms(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(values),
        "median": round(statistics.median(ordered) * 1000, 1),
        "min": round(ordered[0] * 1000, 1),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


async def hold_latency(
    practitioner: VigViewer,
    viewers: list[VigViewer],
    clip_json: dict[str, Any],
    clip: ClipInfo,
    tries: int,
) -> dict[str, Any]:
    """From the practitioner's command to every viewer holding the new keyframe (slowest one)."""
    reader = PictureReader()
    first = int(clip_json["first_frame"])
    last = clip.frames - 1
    track: dict[str, list[float]] = {"pause": [], "seek": [], "step": []}
    wire: dict[str, list[float]] = {"pause": [], "seek": [], "step": []}
    missed: dict[str, int] = {"pause": 0, "seek": 0, "step": 0}
    for attempt in range(tries):
        if attempt:
            await practitioner.command(action="play")
        await asyncio.sleep(0.6 + 0.07 * attempt)
        held = None
        for action in ("pause", "seek", "step"):
            fields: dict[str, Any] = {"action": action}
            if action == "seek":
                target = (137 + 211 * attempt) % (last - 2)
                if held is not None and abs(target - held) < 3:
                    target = (target + 30) % (last - 2)
                fields["frame"] = target
            elif action == "step":
                fields["delta"] = 1
            sent_at = time.monotonic()
            state = await practitioner.command(**fields)
            held = int(state["frame"])
            arrivals = await held_everywhere(viewers, first + held, sent_at, clip, reader)
            if arrivals is None:
                missed[action] += 1
                continue
            track[action].append(max(at for at, _ in arrivals) - sent_at)
            wires = [w for _, w in arrivals]
            if all(w is not None for w in wires):
                wire[action].append(max(w for w in wires if w is not None) - sent_at)
            await asyncio.sleep(0.4)
    return {
        "viewers": len(viewers),
        "tries": tries,
        "wire": {action: summary_ms(values) for action, values in wire.items()},
        "track": {action: summary_ms(values) for action, values in track.items()},
        "missed": missed,
        "note": "slowest viewer per command; wire = last RTP packet of the held keyframe "
        "arrived (a browser can show it), track = aiortc released it to the track (its "
        "jitter buffer waits for the next frame's first packet: the player's resend)",
    }


# -- the baseline --------------------------------------------------------------------------------
async def run_baseline(work: Path, clip: ClipInfo, args: argparse.Namespace, n: int) -> Phase:
    """Play the clip to n viewers from plain aiortc, one MediaPlayer (decode + encode) each."""
    log = work / f"baseline-{n}.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, SCRIPT, "--baseline-server", str(port), "--clip", str(clip.path)]
    phase = Phase(n)
    proc = spawn(cmd, log)
    viewers: list[BaselineViewer] = []
    try:
        await wait_http(url + "/health", proc, log)
        viewers = [BaselineViewer(f"viewer-{i}") for i in range(n)]
        started = time.monotonic()  # no player can start before its offer
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(v.connect(http, url) for v in viewers))
        await until(lambda: all(v.video for v in viewers), "every baseline viewer's first frame")
        phase.setup_s = round(time.monotonic() - started, 2)
        phase.warmup = await measure(proc.pid, viewers, args.warmup)
        phase.window = await measure(proc.pid, viewers, args.window)
        phase.first_pass = time.monotonic() - started < clip.seconds - 1.5
        finish(phase, proc.pid, viewers)
        return phase
    finally:
        await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)
        stop_child(proc)
        phase.server_log = keep_log(log, args.logs)


# -- the run -------------------------------------------------------------------------------------
def make_clip_recording(scratch: Path, frames: int) -> tuple[Vault, Path, float]:
    """The recording, sealed in a scratch vault with its own key, read back only by this
    process (seed_data seals it again into each data folder): (vault, file, seconds taken)."""
    from tests.support.recordings import make_recording
    from tests.support.vaults import standalone_vault

    vault, folder = standalone_vault(scratch)
    path = folder / "recording.webm"
    started = time.perf_counter()
    make_recording(
        vault,
        path,
        frames=frames,
        fps=FPS,
        keyframe_every=KEYFRAME_EVERY,
        width=WIDTH,
        height=HEIGHT,
    )
    return vault, path, time.perf_counter() - started


def per_frame_ratio(vig: Phase, base: Phase) -> float | None:
    if not vig.cpu_ms_per_frame or not base.cpu_ms_per_frame:
        return None
    return round(base.cpu_ms_per_frame / vig.cpu_ms_per_frame, 1)


def resume_lateness(viewer: Viewer, clip: ClipInfo, played_at: float, frame: int) -> float | None:
    """How late the first original keyframe after `play` reached the viewer, in ms.

    Resuming from a hold, the player encodes the frames up to the next original keyframe
    itself (they must follow its sharp keyframe); if that is slower than real time the video
    falls behind, and catches up afterwards.
    """
    reader = PictureReader()
    for at, received in viewer.video:
        if at < played_at or not received.keyframe:
            continue
        if digest(received.data) not in clip.original_video:
            continue
        number = reader.number(received.data)
        if number is None or number < frame:
            continue
        return round((at - played_at - (number - frame) / FPS) * 1000, 1)
    return None


def phase_json(phase: Phase) -> dict[str, Any]:
    out = asdict(phase)
    for name in ("window", "warmup"):
        frames = out[name]["frames"]
        out[name]["frames_min"] = min(frames) if frames else 0
        out[name]["frames_median"] = statistics.median(frames) if frames else 0
    return out


def versions() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "python": platform.python_version(),
        "aiortc": aiortc.__version__,
        "av": av.__version__,
        "ffmpeg": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
        "aiohttp": aiohttp.__version__,
        "platform": platform.platform(),
        "cpu": model,
        "cores": os.cpu_count(),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from vigremote.media import passthrough

    passthrough.install()  # viewers keep encoded frames: no decoding on the client side
    install_rtp_probe()
    counts = [int(c) for c in args.viewers.split(",") if c.strip()]
    if args.hold_viewers and args.hold_viewers not in counts:
        raise SystemExit("--hold-viewers must be one of --viewers (or 0 to skip)")
    results: dict[str, Any] = {}
    hold: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="vig-bench-review-") as tmp:
        work = Path(tmp)
        recording_frames = args.clip_frames + FPS
        print(f"writing a {recording_frames}-frame {WIDTH}x{HEIGHT} recording…", flush=True)
        source, recording, made_s = make_clip_recording(work / "scratch", recording_frames)
        cut: ClipInfo | None = None
        clip: ClipInfo | None = None
        for n in counts:
            print(f"\n{n} viewer(s): vigremote…", flush=True)
            vig, vig_hold, clip_file = await run_vigremote(
                work, source, recording, recording_frames, args, n
            )
            hold = vig_hold or hold
            if clip is None:
                cut = read_clip(clip_file)
                clip = read_clip(interleaved_copy(cut.path, work / "clip.webm"))
            print(f"{n} viewer(s): baseline (aiortc MediaPlayer per viewer)…", flush=True)
            base = await run_baseline(work, clip, args, n)
            results[str(n)] = {
                "vigremote_cores": vig.cores,
                "baseline_cores": base.cores,
                "ratio": round(base.cores / vig.cores, 1) if vig.cores else None,
                "vigremote_cpu_ms_per_frame": vig.cpu_ms_per_frame,
                "baseline_cpu_ms_per_frame": base.cpu_ms_per_frame,
                "ratio_per_frame": per_frame_ratio(vig, base),
                "baseline_kept_up": base.frames_ok,
                "frames_min": vig.window.frames_min,
                "frames_median": statistics.median(vig.window.frames),
                "baseline_frames_min": base.window.frames_min,
                "baseline_frames_median": statistics.median(base.window.frames),
                "frames_expected": vig.window.frames_expected,
                "vigremote": phase_json(vig),
                "baseline": phase_json(base),
            }
            print(HEADER)
            print(row_line(n, results[str(n)]), flush=True)
        assert clip is not None and cut is not None
    return {
        "viewers": results,
        "hold_latency_ms": hold,
        "window_s": args.window,
        "warmup_s": args.warmup,
        "clip": {
            **cut.to_json(),
            "recording_written_s": round(made_s, 1),
            "baseline_file": "the same packets remuxed with audio and video interleaved "
            f"(audio trails video by {clip.audio_behind_s:.2f} s in file order)",
        },
        "cores": "CPU seconds (utime + stime of the server process) / wall seconds",
        "ratio": "baseline_cores / vigremote_cores (unfair where the baseline did not keep up: "
        "then read ratio_per_frame, server CPU per video frame a viewer received)",
        "load_avg_at_end": os.getloadavg(),
        "versions": versions(),
    }


HEADER = (
    f"{'viewers':>7} {'vigremote':>9} {'baseline':>8} {'ratio':>5} {'ms/frame v/b':>13} "
    f"{'frames v/b/expected':>20} {'viewer proc v/b':>15} {'others v/b':>11}"
)


def row_line(n: int | str, row: dict[str, Any]) -> str:
    vig, base = row["vigremote"]["window"], row["baseline"]["window"]
    frames = f"{row['frames_min']}/{row['baseline_frames_min']}/{row['frames_expected']}"
    per_frame = f"{row['vigremote_cpu_ms_per_frame']}/{row['baseline_cpu_ms_per_frame']}"
    return (
        f"{n:>7} {row['vigremote_cores']:>9.3f} {row['baseline_cores']:>8.3f} "
        f"{row['ratio'] or 0:>5.1f} {per_frame:>13} {frames:>20} "
        f"{vig['viewer_process_cores']:>7.2f}/{base['viewer_process_cores']:<7.2f}"
        f"{vig['other_cores']:>5.2f}/{base['other_cores']:<5.2f}"
    )


def print_report(report: dict[str, Any]) -> None:
    print(f"\ncores = server CPU seconds / wall seconds over {report['window_s']} s of playing;")
    print("ms/frame = server CPU ms per video frame received by a viewer;")
    print("frames = fewest received by one viewer; others = machine load that is not ours")
    print(HEADER)
    for n, row in report["viewers"].items():
        print(row_line(n, row))
    hold = report["hold_latency_ms"]
    if hold:
        print(f"\nhold latency, {hold['viewers']} viewers, slowest viewer, ms (median / max):")
        for action in ("pause", "seek", "step"):
            w, t = hold["wire"][action], hold["track"][action]
            print(
                f"  {action:>5}: wire {w.get('median')} / {w.get('max')}   "
                f"aiortc track {t.get('median')} / {t.get('max')}   "
                f"missed {hold['missed'][action]}"
            )


def problems(report: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(failures, notes): vigremote must deliver and decode; the rest is worth a look."""
    wrong, notes = [], []
    for n, row in report["viewers"].items():
        vig, base = row["vigremote"], row["baseline"]
        if not vig["frames_ok"]:
            wrong.append(f"{n} viewers: vigremote delivered only {row['frames_min']} frames")
        if not vig["decoded"].get("ok"):
            wrong.append(f"{n} viewers: vigremote frames did not decode: {vig['decoded']}")
        if not base["first_pass"]:
            wrong.append(f"{n} viewers: the baseline window left MediaPlayer's first pass")
        if row["frames_min"] > 1.1 * row["frames_expected"]:
            notes.append(
                f"{n} viewers: vigremote sent {row['frames_min']} frames for "
                f"{row['frames_expected']}: catching up after falling "
                f"{vig['resume_late_ms']} ms behind on resuming (see player_progress)"
            )
        if not base["frames_ok"]:
            notes.append(
                f"{n} viewers: the baseline did not keep up: {row['baseline_frames_min']} "
                f"frames for {row['frames_expected']}, server RSS {base['server_rss_mb']} MB"
            )
    return wrong, notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", default="1,5,20", help="viewer counts (default 1,5,20)")
    parser.add_argument("--window", type=float, default=15.0, help="measured seconds (15)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before it (5)")
    parser.add_argument("--clip-seconds", type=float, default=30.0, help="clip length (30)")
    parser.add_argument("--hold-viewers", type=int, default=5, help="hold latency at (5; 0: no)")
    parser.add_argument("--hold-tries", type=int, default=10, help="commands of each kind (10)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--logs", type=Path, help="keep the servers' logs in this folder")
    parser.add_argument("--baseline-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--clip", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        run_baseline_server(args.baseline_server, args.clip)
        return 0
    args.clip_frames = round(args.clip_seconds * FPS)
    report = asyncio.run(bench(args))
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwritten to {args.json}")
    wrong, notes = problems(report)
    for line in notes:
        print("NOTE:", line)
    for line in wrong:
        print("PROBLEM:", line, file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
