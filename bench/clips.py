"""Benchmark: frame-accurate clip cutting against re-encoding the same clip with PyAV.

A 10-minute (`--minutes`) 640x480 30 fps VP8 + Opus recording with a keyframe every 2 s is
written by the real recorder writer (`tests.support.recordings.make_recording`, numbered
frames), sealed as the server seals it (vigremote/vault), once, and cached in a folder of
sealed files with its own keys (`--data`, by default in `bench/out/`, git-ignored). Then a
30 s clip that starts off a keyframe in the middle is made, in the same run and interleaved,
both reading the sealed recording and writing a sealed clip:
- by `vigremote.clips.cutting.cut_clip` (copy whole groups of pictures, re-encode the partial
  first one), given the frame index already in memory as the API has it after the first open;
- by a plain PyAV re-encode (decode from the keyframe before the clip, encode every clip frame
  with libvpx at cut_clip's own settings, copy the audio).
One warm-up each, then `--repeat` timed runs each; only the cutting is timed. Every output is
decoded: it must hold exactly the frames first..last (read back from the numbers drawn on them)
and its audio must decode.

    python bench/clips.py --json /tmp/bench-clips.json
    python bench/clips.py --minutes 1 --frames 90 --repeat 1   # a quick check that it runs

Exits non-zero if any clip is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests.support` when run as a file

import av

from tests.support.numbered_video import read_frame_number
from tests.support.recordings import make_recording
from tests.support.vaults import standalone_vault
from vigremote.clips.cutting import _encoder as cut_clip_encoder  # its partial-GOP settings
from vigremote.clips.cutting import cut_clip
from vigremote.clips.frames import FrameIndex, index_video
from vigremote.vault.files import Vault

T = TypeVar("T")
MS = Fraction(1, 1000)
FPS = 30
WIDTH, HEIGHT = 640, 480
RECORDING_MINUTES = 10
KEYFRAME_EVERY = 2 * FPS
DEFAULT_DATA = Path(__file__).resolve().parent / "out" / "clips-data"


def recording_name(frames: int) -> str:
    return f"clips-recording-{frames}f-{WIDTH}x{HEIGHT}.webm"


@dataclass
class Check:
    """What one output clip holds, decoded."""

    frames: int
    first_number: int | None
    last_number: int | None
    numbers_in_order: bool | None  # every frame read back, consecutive (full checks only)
    audio_packets: int
    audio_samples: int

    def problems(self, first: int, last: int) -> list[str]:
        wrong = []
        if self.frames != last - first + 1:
            wrong.append(f"{self.frames} frames, expected {last - first + 1}")
        if (self.first_number, self.last_number) != (first, last):
            wrong.append(
                f"frames {self.first_number}..{self.last_number}, expected {first}..{last}"
            )
        if self.numbers_in_order is False:
            wrong.append("frame numbers are not consecutive")
        if self.audio_packets == 0 or self.audio_samples == 0:
            wrong.append("no decodable audio")
        return wrong


# -- the recording ----------------------------------------------------------------------------
def ensure_recording(vault: Vault, path: Path, frames: int) -> float | None:
    """Write the sealed recording unless it exists; the seconds it took, or None if reused."""
    if path.exists():
        return None
    part = path.with_name(path.stem + ".part" + path.suffix)
    part.unlink(missing_ok=True)
    print(
        f"writing a {frames / FPS / 60:g}-minute {WIDTH}x{HEIGHT} recording to {path}"
        " (once; minutes on a small machine)",
        flush=True,
    )
    done = threading.Event()
    started = time.perf_counter()

    def progress() -> None:
        while not done.wait(15.0):
            size = part.stat().st_size / 1e6 if part.exists() else 0.0
            print(f"  {time.perf_counter() - started:5.0f} s, {size:6.1f} MB", flush=True)

    watcher = threading.Thread(target=progress, daemon=True)
    watcher.start()
    try:
        make_recording(
            vault,
            part,
            frames=frames,
            fps=FPS,
            keyframe_every=KEYFRAME_EVERY,
            width=WIDTH,
            height=HEIGHT,
        )
    finally:
        done.set()
        watcher.join()
    part.replace(path)
    elapsed = time.perf_counter() - started
    print(f"  written in {elapsed:.0f} s ({frames / elapsed:.0f} frames/s)", flush=True)
    return elapsed


# -- the baseline -----------------------------------------------------------------------------
def reencode_clip(
    vault: Vault, src: Path, dst: Path, first: int, last: int, index: FrameIndex
) -> int:
    """Frames first..last re-encoded as cut_clip encodes its partial GOP, audio copied; read
    from and written to sealed files, as cut_clip does."""
    keyframe = index.keyframe_at_or_before(first)
    start, end = index.pts[first], index.pts[last]
    with (
        vault.open(src) as sealed_in,
        av.open(sealed_in, "r") as source,
        vault.create(dst) as sealed_out,
        av.open(sealed_out, "w", format="webm") as out,
    ):
        video_in = source.streams.video[0]
        audio_in = source.streams.audio[0] if source.streams.audio else None
        video_out = out.add_stream_from_template(video_in)
        encoder = cut_clip_encoder(index, video_in)  # the very settings of cut_clip
        encoder.gop_size = KEYFRAME_EVERY  # a keyframe every 2 s, like the recorder
        audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None

        source.seek(index.pts[keyframe], stream=video_in, backward=True, any_frame=False)
        count = 0
        done = False
        for packet in source.demux(video_in):
            for frame in packet.decode():
                if frame.pts is None or frame.pts < start:
                    continue
                if frame.pts > end:
                    done = True
                    break
                image = frame.reformat(format="yuv420p")
                image.pts = frame.pts - start
                image.time_base = MS
                image.pict_type = av.video.frame.PictureType.NONE
                for encoded in encoder.encode(image):
                    mux(out, video_out, encoded)
                count += 1
                done = frame.pts >= end
            if done:
                break
        for encoded in encoder.encode(None):
            mux(out, video_out, encoded)

        if audio_in is not None and audio_out is not None:
            frame_ms = index.pts[last + 1] - end if last + 1 < len(index) else 33
            source.seek(start, stream=audio_in, backward=True, any_frame=True)
            for sound in source.demux(audio_in):
                if sound.pts is None or sound.size == 0 or sound.pts < start:
                    continue
                if sound.pts > end + frame_ms - 1:
                    break
                sound.pts -= start
                sound.dts = sound.pts
                sound.stream = audio_out
                out.mux(sound)
    return count


def mux(out: Any, stream: Any, packet: Any) -> None:
    """An encoder's packet into the output stream, on the millisecond timeline."""
    packet.stream = stream
    packet.time_base = MS
    packet.dts = packet.pts
    out.mux(packet)


# -- checking ---------------------------------------------------------------------------------
def check_clip(vault: Vault, path: Path, full: bool) -> Check:
    """Decode every frame (and the audio); read the numbers of the first and last (or all)."""
    numbers: list[int | None] = []
    frames = 0
    last_frame: Any = None
    with vault.open(path) as sealed, av.open(sealed, "r") as clip:
        for frame in clip.decode(video=0):
            if frames == 0 or full:
                numbers.append(read_frame_number(frame.to_ndarray(format="rgb24")))
            frames += 1
            last_frame = frame
    last_number = (
        read_frame_number(last_frame.to_ndarray(format="rgb24")) if last_frame is not None else None
    )
    in_order: bool | None = None
    if full:
        in_order = all(
            a is not None and b is not None and b == a + 1
            for a, b in zip(numbers, numbers[1:], strict=False)
        )
    audio_packets = audio_samples = 0
    with vault.open(path) as sealed, av.open(sealed, "r") as clip:
        if clip.streams.audio:
            for packet in clip.demux(audio=0):
                if packet.size == 0:
                    continue
                audio_packets += 1
                audio_samples += sum(f.samples for f in packet.decode())
    return Check(
        frames=frames,
        first_number=numbers[0] if numbers else None,
        last_number=last_number,
        numbers_in_order=in_order,
        audio_packets=audio_packets,
        audio_samples=audio_samples,
    )


# -- timing -----------------------------------------------------------------------------------
@dataclass
class Timing:
    """Wall-clock seconds, and CPU seconds of this process (all its threads)."""

    wall: list[float]
    cpu: list[float]

    def add(self, work: Callable[..., T], *args: Any) -> T:
        wall, cpu = time.perf_counter(), time.process_time()
        result = work(*args)
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(time.process_time() - cpu)
        return result

    def summary(self, name: str) -> dict[str, Any]:
        return {
            f"{name}_s": round(statistics.median(self.wall), 4),
            f"{name}_min_s": round(min(self.wall), 4),
            f"{name}_cpu_s": round(statistics.median(self.cpu), 4),
            f"{name}_runs_s": [round(t, 4) for t in self.wall],
        }


def timed(work: Callable[..., T], *args: Any) -> tuple[float, T]:
    """Wall-clock seconds of work(*args), and its result."""
    started = time.perf_counter()
    result = work(*args)
    return time.perf_counter() - started, result


def machine() -> dict[str, Any]:
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "loadavg": load,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="a folder of sealed files with its own keys: the recording is made there once",
    )
    parser.add_argument(
        "--minutes", type=float, default=RECORDING_MINUTES, help="length of the recording"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each method")
    parser.add_argument("--first", type=int, help="the clip's first frame (default: mid-way)")
    parser.add_argument("--frames", type=int, default=30 * FPS, help="clip length in frames")
    args = parser.parse_args(argv)
    recording_frames = round(args.minutes * 60 * FPS)
    first = args.first if args.first is not None else recording_frames // 2 + 17
    last = first + args.frames - 1

    vault, case_folder = standalone_vault(args.data)
    recording = case_folder / recording_name(recording_frames)
    build_s = ensure_recording(vault, recording, recording_frames)
    index_s, index = timed(index_video, vault, recording)
    if index.codec != "vp8":
        print(f"the baseline re-encodes VP8 only; {recording} holds {index.codec}")
        return 2
    if not 0 <= first <= last < len(index):
        print(f"the clip {first}..{last} is outside the recording's {len(index)} frames")
        return 2
    keyframe = index.keyframe_at_or_before(first)
    print(
        f"recording: {len(index)} frames ({len(index) / FPS / 60:.1f} min), "
        f"{vault.plain_size(recording) / 1e6:.1f} MB, {len(index.keyframes)} keyframes; "
        f"clip {first}..{last} ({args.frames} frames), keyframe before it {keyframe}",
        flush=True,
    )

    problems: list[str] = []
    cuts, reencodes = Timing([], []), Timing([], [])
    load_before = machine()["loadavg"]
    reencoded_frames = 0
    # The clips are sealed too, so they are made in the recording's case folder.
    with tempfile.TemporaryDirectory(prefix="bench-clips-", dir=case_folder) as tmp:
        out = Path(tmp)

        def verify(name: str, path: Path, full: bool) -> None:
            check = check_clip(vault, path, full)
            problems.extend(f"{name}: {p}" for p in check.problems(first, last))
            path.unlink()

        def cut(n: str) -> Path:
            nonlocal reencoded_frames
            dst = out / f"cut-{n}.webm"
            result = cut_clip(vault, recording, dst, first, last, index)
            reencoded_frames = result.reencoded_frames
            return dst

        def cut_cold() -> Path:
            dst = out / "cold.webm"
            cut_clip(vault, recording, dst, first, last, index_video(vault, recording))
            return dst

        def reencode(n: str) -> Path:
            dst = out / f"reencode-{n}.webm"
            reencode_clip(vault, recording, dst, first, last, index)
            return dst

        # Warm-up (page cache, codec libraries), fully checked.
        verify("cut warm-up", cut("warm"), full=True)
        verify("re-encode warm-up", reencode("warm"), full=True)
        # Cold index: what the first clip from a never-opened recording costs.
        cold_s, path = timed(cut_cold)
        verify("cut with index", path, full=False)
        for n in range(args.repeat):  # interleaved, so load changes hit both alike
            path = cuts.add(cut, str(n))
            verify(f"cut {n}", path, full=False)
            path = reencodes.add(reencode, str(n))
            verify(f"re-encode {n}", path, full=False)
            print(f"  run {n + 1}: cut {cuts.wall[-1]:.3f} s, re-encode {reencodes.wall[-1]:.3f} s")

    cut_s = statistics.median(cuts.wall)
    reencode_s = statistics.median(reencodes.wall)
    results: dict[str, Any] = {
        **cuts.summary("cut"),
        "cut_with_index_s": round(cold_s, 4),
        "index_s": round(index_s, 4),
        **reencodes.summary("reencode"),
        "ratio": round(reencode_s / cut_s, 2),
        "frames": args.frames,
        "first": first,
        "last": last,
        "reencoded_frames": reencoded_frames,
        "recording_frames": len(index),
        "recording_minutes": round(len(index) / FPS / 60, 2),
        "recording_size": f"{index.width}x{index.height}",
        "recording_build_s": round(build_s, 1) if build_s is not None else None,
        "repeat": args.repeat,
        "machine": {**machine(), "loadavg_before": load_before},
        "av_version": av.__version__,
        "ffmpeg_version": av.ffmpeg_version_info,
        "ok": not problems,
        "problems": problems,
    }
    print()
    print(f"{'seconds':28}{'median':>9}{'min':>9}{'CPU':>9}")
    for name, timing in (("cut_clip (index in memory)", cuts), ("PyAV re-encode", reencodes)):
        cpu = statistics.median(timing.cpu)
        print(f"{name:28}{statistics.median(timing.wall):9.3f}{min(timing.wall):9.3f}{cpu:9.3f}")
    print(f"{'cut_clip + index_video':28}{cold_s:9.3f}")
    print(
        f"ratio re-encode / cut: {results['ratio']:.1f}x; "
        f"{reencoded_frames} of {args.frames} frames re-encoded by cut_clip; "
        f"index_video alone {index_s:.3f} s; load {load_before[0]:.1f} before, "
        f"{results['machine']['loadavg'][0]:.1f} after, on {os.cpu_count()} CPUs"
    )
    for problem in problems:
        print(f"WRONG: {problem}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written {args.json}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
