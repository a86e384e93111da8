"""The frame index of a media file: every video frame's timestamp, in order, without decoding.

Frame numbers are positions in this index. The browser shows frame i by seeking to the middle
of its display interval, so every browser lands on the same frame, and clips and stills are cut
at exactly these frames.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vigremote.vault.files import Vault
from vigremote.vault.sealed import Tampered


@dataclass(frozen=True)
class FrameIndex:
    pts: list[int]  # presentation timestamps, ascending, in time_base units
    keyframes: list[int]  # frame numbers that are keyframes
    time_base: Fraction
    codec: str
    width: int
    height: int

    def __len__(self) -> int:
        return len(self.pts)

    def seconds(self, frame: int) -> float:
        return float(self.pts[frame] * self.time_base)

    def keyframe_at_or_before(self, frame: int) -> int:
        candidates = [k for k in self.keyframes if k <= frame]
        if not candidates:
            raise ValueError("no keyframe before this frame")
        return candidates[-1]

    def keyframe_after(self, frame: int) -> int | None:
        return next((k for k in self.keyframes if k > frame), None)

    def to_json(self) -> dict[str, Any]:
        """Frame times in milliseconds for the browser (plus what it needs to step exactly)."""
        return {
            "count": len(self.pts),
            "times_ms": [round(float(p * self.time_base) * 1000, 3) for p in self.pts],
            "keyframes": self.keyframes,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
        }


def index_video(vault: Vault, path: Path) -> FrameIndex:
    """Read every video packet's timestamp (demux only: fast even for long recordings)."""
    with vault.open(path) as sealed, av.open(sealed, "r") as container:
        stream = container.streams.video[0]
        entries: list[tuple[int, bool]] = []
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            entries.append((int(packet.pts), bool(packet.is_keyframe)))
        entries.sort()
        codec = stream.codec_context.name
        width, height = stream.codec_context.width, stream.codec_context.height
        time_base = stream.time_base or Fraction(1, 1000)
    return FrameIndex(
        pts=[p for p, _ in entries],
        keyframes=[i for i, (_, key) in enumerate(entries) if key],
        time_base=time_base,
        codec=codec,
        width=width,
        height=height,
    )


def frame_cache_of(path: Path) -> Path:
    """Where cached_index keeps a file's index (deleted with the file)."""
    return path.with_suffix(path.suffix + ".frames.json")


def cached_index(vault: Vault, path: Path) -> FrameIndex:
    """The index, cached (sealed) beside the file and rebuilt when the file has changed."""
    cache = frame_cache_of(path)
    stat = path.stat()
    key = [stat.st_size, stat.st_mtime_ns]
    if cache.exists():
        try:
            data = json.loads(vault.read_text(cache))
            if data["key"] == key:
                return FrameIndex(
                    pts=data["pts"],
                    keyframes=data["keyframes"],
                    time_base=Fraction(data["time_base"]),
                    codec=data["codec"],
                    width=data["width"],
                    height=data["height"],
                )
        except (ValueError, KeyError, Tampered):
            pass
    index = index_video(vault, path)
    payload = {
        "key": key,
        "pts": index.pts,
        "keyframes": index.keyframes,
        "time_base": str(index.time_base),
        "codec": index.codec,
        "width": index.width,
        "height": index.height,
    }
    vault.write_text(cache, json.dumps(payload))
    return index
