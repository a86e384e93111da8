"""What the analysis page plays and shows: a browser-playable copy, thumbnails, audio activity.

All of it is derived from the recording's files by copying packets (the playback file) or by
decoding only what is needed (keyframes for thumbnails, audio for the activity band). Every
result is cached beside the recording and rebuilt when the recording has grown (a recording
still being written, or cut short by a crash, can be reviewed up to what is on disk). All
functions block: callers run them in a thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np

from vigremote.clips.cutting import MS
from vigremote.vault.files import Vault

THUMB_WIDTH = 160
AUDIO_BUCKET_S = 0.1


def _source_key(sources: list[Path]) -> list[int]:
    key: list[int] = []
    for path in sources:
        stat = path.stat()
        key += [stat.st_size, stat.st_mtime_ns]
    return key


def _fresh(target: Path, sources: list[Path]) -> bool:
    meta = target.with_name(target.name + ".key")
    return (
        target.exists() and meta.exists() and json.loads(meta.read_text()) == _source_key(sources)
    )


def _written(target: Path, sources: list[Path]) -> None:
    meta = target.with_name(target.name + ".key")
    meta.write_text(json.dumps(_source_key(sources)))
    meta.chmod(0o600)


def _video_codec(vault: Vault, source: Path) -> str:
    with (
        vault.open(source, allow_unfinished=True) as sealed,  # a segment may be growing
        av.open(sealed, "r") as probe,
    ):
        return str(probe.streams.video[0].codec_context.name)


def _playback_target(vault: Vault, source: Path, folder: Path) -> tuple[Path, str]:
    codec = _video_codec(vault, source)
    return folder / ("playback.webm" if codec == "vp8" else "playback.mp4"), codec


def _one_stream(vault: Vault, sources: list[Path], codec: str) -> list[Path]:
    """The first segment and those that continue it: the same person's camera in the same
    codec (a recording another process carried on after a crash). A segment in another
    codec (a different browser rejoined) cannot join the copy and is left out, as before."""
    person = sources[0].name.split("-", 1)[0]
    return [sources[0]] + [
        s
        for s in sources[1:]
        if s.name.split("-", 1)[0] == person and _video_codec(vault, s) == codec
    ]


def fresh_playback(vault: Vault, sources: list[Path], folder: Path) -> Path | None:
    """The playback copy if it is up to date (no lock needed: it is replaced atomically)."""
    target, codec = _playback_target(vault, sources[0], folder)
    return target if _fresh(target, _one_stream(vault, sources, codec)) else None


def playback_file(vault: Vault, sources: list[Path], folder: Path) -> Path:
    """One file a browser can play and seek: the packets of the first segment and of those that
    continue it (already on one timeline), copied, with an index.

    VP8 goes to WebM; H264 (stored in Matroska, which browsers do not play) goes to MP4.
    """
    target, codec = _playback_target(vault, sources[0], folder)
    used = _one_stream(vault, sources, codec)
    if _fresh(target, used):
        return target
    tmp = folder / (target.name + ".part")
    options = {"movflags": "+faststart"} if codec != "vp8" else {}
    with (
        vault.create_replacing(tmp) as sealed_out,
        av.open(
            sealed_out, "w", format="webm" if codec == "vp8" else "mp4", options=options
        ) as out,
    ):
        streams: dict[str, Any] = {}  # by type: "video", "audio"
        for source in used:
            with (
                vault.open(source, allow_unfinished=True) as sealed_in,
                av.open(sealed_in, "r") as inp,
            ):
                mine = [s for s in inp.streams if s.type in ("video", "audio")]
                for stream in mine:
                    if stream.type not in streams and source == used[0]:
                        streams[stream.type] = out.add_stream_from_template(stream)
                try:
                    for packet in inp.demux(*[s for s in mine if s.type in streams]):
                        if packet.pts is None or packet.size == 0:
                            continue
                        packet.stream = streams[packet.stream.type]
                        out.mux(packet)
                except av.FFmpegError:
                    pass  # a file still being written (or cut by a crash) ends partway
    tmp.replace(target)
    _written(target, used)
    return target


def thumbnails(vault: Vault, source: Path, folder: Path) -> dict[str, Any]:
    """A strip of small pictures, one per keyframe (about every 2 s), as one JPEG sprite."""
    sprite = folder / "thumbnails.jpg"
    meta = folder / "thumbnails.json"
    if _fresh(sprite, [source]) and meta.exists():
        info: dict[str, Any] = json.loads(vault.read_text(meta))
        return info
    images: list[np.ndarray[Any, Any]] = []
    times: list[float] = []
    with vault.open(source) as sealed, av.open(sealed, "r") as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"  # decode keyframes only: cheap
        width = stream.codec_context.width or THUMB_WIDTH
        height = stream.codec_context.height or THUMB_WIDTH
        thumb_h = max(2, round(THUMB_WIDTH * height / width / 2) * 2)
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            small = frame.reformat(width=THUMB_WIDTH, height=thumb_h, format="rgb24")
            images.append(small.to_ndarray())
            times.append(round(float(frame.time), 3))
    if not images:
        raise ValueError("no picture in this recording yet")
    strip = np.concatenate(images, axis=1)
    vault.write_bytes(sprite, _jpeg(strip))
    _written(sprite, [source])
    info = {"times_s": times, "width": THUMB_WIDTH, "height": thumb_h, "count": len(times)}
    vault.write_text(meta, json.dumps(info))
    return info


def _jpeg(rgb: np.ndarray[Any, Any]) -> bytes:
    height, width = rgb.shape[:2]
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = width - width % 2, height - height % 2
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = MS
    encoder.options = {"qscale": "4"}
    frame = av.VideoFrame.from_ndarray(
        np.ascontiguousarray(rgb[: encoder.height, : encoder.width]), format="rgb24"
    ).reformat(format="yuvj420p")
    frame.pts = 0
    return b"".join(bytes(p) for p in encoder.encode(frame)) + b"".join(
        bytes(p) for p in encoder.encode(None)
    )


def audio_activity(vault: Vault, source: Path, folder: Path) -> dict[str, Any]:
    """Loudness per 100 ms (0..1, from -60 dBFS to 0 dBFS), to spot where something happens."""
    cache = folder / "audio-activity.json"
    if _fresh(cache, [source]):
        cached: dict[str, Any] = json.loads(vault.read_text(cache))
        return cached
    levels: list[float] = []
    with vault.open(source) as sealed, av.open(sealed, "r") as container:
        if not container.streams.audio:
            result: dict[str, Any] = {"bucket_s": AUDIO_BUCKET_S, "levels": []}
        else:
            stream = container.streams.audio[0]
            squares: dict[int, list[float]] = {}
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                samples = frame.to_ndarray().astype(np.float32)
                if samples.dtype != np.float32 or np.abs(samples).max(initial=0) > 1.5:
                    samples = samples / 32768.0
                mono = samples.mean(axis=0) if samples.ndim > 1 else samples
                bucket = int(float(frame.time) / AUDIO_BUCKET_S)
                squares.setdefault(bucket, []).append(float(np.mean(mono**2)))
            for bucket in range(max(squares, default=-1) + 1):
                power = float(np.mean(squares.get(bucket, [0.0])))
                db = 10 * np.log10(power + 1e-10)
                levels.append(round(float(np.clip((db + 60) / 60, 0, 1)), 3))
            result = {"bucket_s": AUDIO_BUCKET_S, "levels": levels}
    vault.write_text(cache, json.dumps(result))
    _written(cache, [source])
    return result
