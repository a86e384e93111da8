"""Benchmark: recorded sessions held by 1 and 2 worker processes on this machine.

For each worker count W and session count N, a fresh data folder and a fresh
`vigremote serve --workers W` (W > 1: sharing rooms through a private redis-server) record N
filming sessions at once for --seconds. N simulated families send pre-encoded 640x480 30 fps
VP8 + Opus, each to one worker in turn (their internal ports, so the load is even); a
practitioner per session starts and stops the recording.

N is held when every recording holds at least 95% of the frames sent in its window (from the
first keyframe after Record: the publishers send one every 0.5 s) with no hole over 0.5 s (read
from the files' packets; one file per run is decoded in full with PyAV, and a frame it rejects
fails the run). A server that falls
behind starts recordings late or loses frames, and fails this. N rises by --step until one is
not held, then the gap between held and not held is halved down to --resolution.

The servers' CPU (all their processes, from /proc) over the window gives CPU per session. The
publishers run in this process, on the same 2 cores, so what they cost is taken from what the
workers could use: by default one pacing task sends every family's RTP through its own
aiortc DTLS transport (tests/support/paced_rtp.py), at less than half the CPU of aiortc's own
sender (`--publishers aiortc`, a sender per track). Their CPU is reported too.

    python bench/scale.py --workers 1,2 --json /tmp/bench-scale.json

Exits non-zero when two workers hold less than 1.7x what one holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests.support` when run as a file

import av

from bench.procs import cpu_seconds, free_port
from bench.recording import wait_http
from bench.review import new_master_key, versions
from tests.support.paced_rtp import RtpPacer
from tests.support.publisher import EncodedMedia, SimulatedFamily, encode_media

FPS = 30
MIN_SHARE = 0.95
MAX_HOLE_S = 0.5
GOP_FRAMES = 15  # the publishers' keyframe interval: a recording starts within 0.5 s
WORKER_LINE = re.compile(r"worker (w\d+): pid (\d+), internal port (\d+)")


def seed(data: Path, master_key: bytes, sessions: int) -> list[dict[str, str]]:
    """A practitioner with a live login, and `sessions` cases with a filming session each."""
    from vigremote.auth import TokenSigner, new_login_secret
    from vigremote.cases import open_session
    from vigremote.config import Config, load_secret
    from vigremote.records import open_records

    config = Config(data_dir=data, master_key=master_key)
    records = open_records(config)
    try:
        store = records.store
        user = store.add_user("bench", "Bench", "practitioner", "unused")
        login_id = new_login_secret()[1]
        store.add_login(login_id, user.id, "unused", time.time() + 3600)
        signer = TokenSigner(load_secret(data))
        out = []
        for index in range(sessions):
            case = store.add_case(user.id, f"Family {index}")
            created = open_session(store, config, signer, case)
            session_id = created["session"]["id"]
            practitioner = signer.issue(
                session_id, "practitioner", user.id, "Bench", 3600, login_id=login_id
            )
            family = created["family_link"].rsplit("/", 1)[1]
            out.append({"case_id": case.id, "family": family, "practitioner": practitioner})
        return out
    finally:
        records.close()


class Servers:
    """`vigremote serve --workers W` as a child process, and where each worker listens."""

    def __init__(self, data: Path, workers: int, key_text: str, log: Path) -> None:
        from vigremote.keys import KEY_ENV

        self.port = free_port()
        self.redis: subprocess.Popen[bytes] | None = None
        command = [sys.executable, "-m", "vigremote.cli", "serve", "--port", str(self.port)]
        command += ["--data", str(data), "--workers", str(workers)]
        if workers > 1:
            redis_port = free_port()
            self.redis = subprocess.Popen(
                ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            )
            command += ["--redis-url", f"redis://127.0.0.1:{redis_port}/0"]
        env = {**os.environ, KEY_ENV: key_text}
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log.open("w"), text=True, env=env
        )
        self.workers: dict[str, tuple[int, int]] = {}
        threading.Thread(target=self._read, daemon=True).start()
        self.count = workers

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            found = WORKER_LINE.search(line)
            if found:
                self.workers[found[1]] = (int(found[2]), int(found[3]))

    def urls(self) -> list[str]:
        if self.count == 1:
            return [f"127.0.0.1:{self.port}"]
        return [f"127.0.0.1:{port}" for _, port in sorted(self.workers.values())]

    def pids(self) -> list[int]:
        return [self.process.pid] + [pid for pid, _ in self.workers.values()]

    def cpu(self, loops_only: bool = False) -> float:
        """CPU seconds of the servers' processes, or of the workers' event loops only."""
        pids = [pid for pid, _ in self.workers.values()] if self.count > 1 else self.pids()
        total = 0.0
        for pid in pids if loops_only else self.pids():
            try:
                total += cpu_seconds(pid, main_thread_only=loops_only)
            except (FileNotFoundError, ProcessLookupError):
                pass
        return total

    async def ready(self) -> None:
        for _ in range(400):
            if self.count == 1 or len(self.workers) == self.count:
                break
            await asyncio.sleep(0.05)
        for url in self.urls():
            await wait_http(f"http://{url}/api/openapi.json")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(10)


async def run_once(
    workers: int,
    sessions: int,
    seconds: float,
    media: EncodedMedia,
    scratch: Path,
    pacer: RtpPacer | None,
) -> dict[str, Any]:
    """Record `sessions` sessions on `workers` processes; what was held, and at what CPU."""
    work = Path(tempfile.mkdtemp(prefix=f"w{workers}-n{sessions}-", dir=scratch))
    key_text, master_key = new_master_key()
    seeded = await asyncio.to_thread(seed, work / "data", master_key, sessions)
    servers = Servers(work / "data", workers, key_text, work / "server.log")
    people: list[SimulatedFamily] = []
    result: dict[str, Any] = {"workers": workers, "sessions": sessions}
    try:
        await servers.ready()
        urls = servers.urls()
        families, practitioners = [], []
        for index, session in enumerate(seeded):
            ws = f"ws://{urls[index % len(urls)]}/ws"
            families.append(SimulatedFamily(ws, session["family"], media, pacer=pacer))
            practitioners.append(SimulatedFamily(ws, session["practitioner"]))
        people = families + practitioners
        await asyncio.gather(*(f.join() for f in families))
        await asyncio.gather(*(p.join(with_media=False) for p in practitioners))
        from vigremote.consent.store import load_wording

        version = load_wording()["version"]
        for family in families:
            await family.send({"type": "consent", "version": version, "purposes": ["analysis"]})
        await asyncio.sleep(2.0)  # every family's video reaches its room
        for practitioner in practitioners:
            await practitioner.send({"type": "record", "action": "start"})
        started = await asyncio.gather(
            *(p.wait_for("recording", state="recording", timeout=30) for p in practitioners)
        )
        cpu0, own0, t0 = servers.cpu(), cpu_seconds(os.getpid()), time.monotonic()
        loops0 = servers.cpu(loops_only=True)
        await asyncio.sleep(seconds)
        wall = time.monotonic() - t0
        cpu1, own1 = servers.cpu(), cpu_seconds(os.getpid())
        loops1 = servers.cpu(loops_only=True)
        for practitioner in practitioners:
            await practitioner.send({"type": "record", "action": "stop"})
        await asyncio.gather(
            *(p.wait_for("recording", state="stopped", timeout=60) for p in practitioners)
        )
        result["server_cpu_cores"] = round((cpu1 - cpu0) / wall, 3)
        result["server_cpu_per_session"] = round((cpu1 - cpu0) / wall / sessions, 4)
        # The busiest thread of a worker: what one worker cannot spread over more cores.
        result["server_loop_cores"] = round((loops1 - loops0) / wall, 3)
        result["publisher_cpu_cores"] = round((own1 - own0) / wall, 3)
        checks = [
            await asyncio.to_thread(
                check_file,
                work / "data",
                master_key,
                s["case_id"],
                str(r["recording_id"]),
                index == 0,
            )
            for index, (s, r) in enumerate(zip(seeded, started, strict=True))
        ]
        elapsed = [c["seconds"] for c in checks]
        result["frames_share_min"] = round(
            min(c["frames"] / max(1.0, c["seconds"] * FPS) for c in checks), 3
        )
        result["frames_min"] = min(c["frames"] for c in checks)
        result["frames_wanted"] = round(MIN_SHARE * FPS * (seconds - GOP_FRAMES / FPS))
        result["largest_hole_s"] = round(max(c["largest_hole_s"] for c in checks), 3)
        result["shortest_recording_s"] = round(min(elapsed), 2)
        # Where a short recording lost its time: a late first frame, or an early last one.
        result["latest_first_frame_s"] = round(max(c["first_s"] or 0.0 for c in checks), 2)
        result["earliest_last_frame_s"] = round(min(c["last_s"] or 0.0 for c in checks), 2)
        result["decoded_frames_first_file"] = checks[0].get("decoded")
        result["decode_errors_first_file"] = checks[0]["decode_errors"]
        result["held"] = (
            checks[0]["decode_errors"] == 0
            and checks[0]["decoded"] >= checks[0]["frames"] * 0.99
            and result["frames_share_min"] >= MIN_SHARE
            and result["largest_hole_s"] <= MAX_HOLE_S
            and min(c["frames"] for c in checks) >= MIN_SHARE * FPS * (seconds - GOP_FRAMES / FPS)
        )
    except (TimeoutError, AssertionError) as exc:
        result["held"] = False
        result["error"] = str(exc)[:300]
    finally:
        await asyncio.gather(*(p.close() for p in people), return_exceptions=True)
        servers.stop()
    return result


def check_file(
    data: Path, master_key: bytes, case_id: str, recording_id: str, decode: bool
) -> dict[str, Any]:
    """Frames and holes of one recording (packets read; the first file decoded in full)."""
    from vigremote.config import Config
    from vigremote.records import open_records

    folder = data / "cases" / case_id / recording_id
    records = open_records(Config(data_dir=data, master_key=master_key))
    try:
        times: list[float] = []
        for path in sorted(folder.glob("segment-*")):
            with records.vault.open(path) as sealed, av.open(sealed, "r") as container:
                stream = container.streams.video[0]
                for packet in container.demux(stream):
                    if packet.pts is not None and packet.size:
                        times.append(float(packet.pts * stream.time_base))
        times.sort()
        holes = [b - a for a, b in zip(times, times[1:], strict=False)]
        out: dict[str, Any] = {
            "frames": len(times),
            "seconds": (times[-1] - times[0]) if times else 0.0,
            "first_s": times[0] if times else None,  # on the recording's timeline
            "last_s": times[-1] if times else None,
            "largest_hole_s": max(holes, default=0.0),
        }
        if decode:  # real pictures, not just packets
            decoded = errors = 0
            for path in sorted(folder.glob("segment-*")):
                with records.vault.open(path) as sealed, av.open(sealed, "r") as container:
                    stream = container.streams.video[0]
                    for packet in container.demux(stream):
                        try:
                            decoded += len(packet.decode())
                        except av.error.InvalidDataError:
                            errors += 1  # a frame decoders reject
            out["decoded"] = decoded
            out["decode_errors"] = errors
        return out
    finally:
        records.close()


async def ramp(
    workers: int,
    args: argparse.Namespace,
    media: EncodedMedia,
    scratch: Path,
    pacer: RtpPacer | None,
) -> dict[str, Any]:
    """Sessions held: up by --step until a count is not held, then halving the interval between
    the last held and the first not held until it is at most --resolution."""
    runs = []

    async def holds(sessions: int) -> bool:
        result = await run_once(workers, sessions, args.seconds, media, scratch, pacer)
        runs.append(result)
        print(json.dumps(result), flush=True)
        return bool(result["held"])

    held, failed = 0, None
    sessions = args.start
    while sessions <= args.max:
        if not await holds(sessions):
            failed = sessions
            break
        held = sessions
        sessions += args.step
    while failed is not None and failed - held > args.resolution:
        middle = (held + failed) // 2
        if await holds(middle):
            held = middle
        else:
            failed = middle
    at_held = next((r for r in runs if r["sessions"] == held), None)
    return {
        "workers": workers,
        "held": held,
        "first_not_held": failed,
        "server_cpu_per_session": at_held["server_cpu_per_session"] if at_held else None,
        "runs": runs,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    media = encode_media(frames=90, fps=FPS, width=640, height=480, gop=GOP_FRAMES)
    scratch = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    report: dict[str, Any] = {
        "versions": versions(),
        "seconds": args.seconds,
        "publishers": args.publishers,
        "by_workers": {},
    }
    pacer = RtpPacer() if args.publishers == "paced" else None
    pacing = asyncio.create_task(pacer.run()) if pacer is not None else None
    try:
        for workers in args.workers:
            report["by_workers"][str(workers)] = await ramp(workers, args, media, scratch, pacer)
    finally:
        if pacing is not None:
            pacing.cancel()
    counts = report["by_workers"]
    if "1" in counts and "2" in counts and counts["1"]["held"]:
        report["ratio_2_to_1"] = round(counts["2"]["held"] / counts["1"]["held"], 2)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=lambda t: [int(x) for x in t.split(",")], default=[1, 2])
    parser.add_argument("--start", type=int, default=80, help="sessions in the first run")
    parser.add_argument("--step", type=int, default=16, help="sessions added each run")
    parser.add_argument("--max", type=int, default=200, help="sessions at most")
    parser.add_argument(
        "--resolution", type=int, default=4, help="held and not held this close at the end"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        help="recorded window per run (short windows make the limit noisy: 95%% of 8 s "
        "leaves 0.4 s for any hiccup)",
    )
    parser.add_argument(
        "--publishers",
        choices=("paced", "aiortc"),
        default="paced",
        help="the families' media sent by one pacing task (the default: the cores are left to "
        "the server) or by aiortc's own sender, one per track",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    report = asyncio.run(bench(args))
    for workers, row in report["by_workers"].items():
        print(
            f"{workers} worker(s): held {row['held']} sessions, "
            f"{row['server_cpu_per_session']} server cores per session"
        )
    if "ratio_2_to_1" in report:
        print(f"two workers hold {report['ratio_2_to_1']}x what one holds")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    ratio = report.get("ratio_2_to_1")
    return 0 if ratio is None or ratio >= 1.7 else 1


if __name__ == "__main__":
    sys.exit(main())
