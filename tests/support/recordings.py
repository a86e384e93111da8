"""Synthetic recordings made by the real recorder writer, from numbered frames."""

from __future__ import annotations

import fractions
from pathlib import Path
from typing import Any

import av
import numpy as np

from tests.support.numbered_video import numbered_frame_luma
from vigremote.recording.writer import SegmentWriter, TimedFrame
from vigremote.vault.files import Vault


def make_recording(
    vault: Vault,
    path: Path,
    frames: int = 300,
    fps: int = 30,
    keyframe_every: int = 60,
    width: int = 320,
    height: int = 240,
    codec: str = "VP8",
    with_audio: bool = True,
    times_ms: list[int] | None = None,
) -> None:
    """A sealed file like the recorder writes: numbered video, keyframes at multiples, Opus audio.
    `times_ms` gives each frame's timestamp (a live recording's rate varies); else `fps`."""
    encoder = av.CodecContext.create("libvpx" if codec == "VP8" else "libx264", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = fractions.Fraction(1, fps)
    encoder.bit_rate = 1_000_000
    encoder.gop_size = 10_000
    if codec == "VP8":
        encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    else:
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"}
    errors: list[BaseException] = []
    writer = SegmentWriter(vault, path, errors.append)
    chroma = np.full((height // 2, width // 2), 128, np.uint8).tobytes()
    frame_ms = 1000 / fps
    audio = _opus_packets(int(frames * frame_ms / 20) + 1) if with_audio else []
    next_audio = 0
    for index in range(frames):
        frame = av.VideoFrame(width, height, "yuv420p")
        frame.planes[0].update(numbered_frame_luma(index, width, height).tobytes())
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = index
        key = index % keyframe_every == 0
        frame.pict_type = av.video.frame.PictureType.I if key else av.video.frame.PictureType.NONE
        pts_ms = times_ms[index] if times_ms else round(index * frame_ms)
        for packet in encoder.encode(frame):
            writer.write(TimedFrame("video", codec, bytes(packet), pts_ms, packet.is_keyframe))
        while next_audio < len(audio) and next_audio * 20 <= pts_ms:
            writer.write(TimedFrame("audio", "opus", audio[next_audio], next_audio * 20, True))
            next_audio += 1
    writer.close()
    if errors:
        raise errors[0]


def _opus_packets(count: int) -> list[bytes]:
    opus = av.CodecContext.create("libopus", "w")
    opus.sample_rate = 48000
    opus.layout = "stereo"
    opus.format = "s16"
    out: list[bytes] = []
    t = np.arange(960) / 48000
    for index in range(count):
        tone = (np.sin(2 * np.pi * 440 * (t + index * 0.02)) * 6000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48000
        frame.pts = index * 960
        out += [bytes(p) for p in opus.encode(frame)]
    return out


def seed_recording(server: Any, owner: Any, frames: int = 300, status: str = "complete") -> Any:
    """A finished recording of `frames` numbered frames in a new case of `owner`'s."""
    from vigremote.paths import recording_dir
    from vigremote.state import CONSENTS, RECORDINGS, VAULT

    session = server.new_session(owner)
    consent = server.app[CONSENTS].record(
        session["case_id"], ["analysis"], "test", "family", session_id=session["session"]["id"]
    )
    store = server.app[RECORDINGS]
    recording = store.add(session["case_id"], session["session"]["id"], consent.id, ["analysis"])
    folder = recording_dir(server.config.data_dir, recording.case_id, recording.id)
    make_recording(server.app[VAULT], folder / "segment-001.webm", frames=frames, keyframe_every=60)
    store.add_segment(recording.id, 1, "segment-001.webm", "VP8")
    store.add_mark(recording.id, 2.5, "bookmark", "a look", owner.id)
    store.set_progress(recording.id, frames / 30, (folder / "segment-001.webm").stat().st_size)
    store.set_status(recording.id, status)
    return store.get(recording.id)
