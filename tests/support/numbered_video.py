"""Numbered test video: every frame carries its own index as a big binary code.

End-to-end WebRTC tests need to prove that *live* video arrives (not a frozen
frame) and to measure which frames got through.  The code is drawn as large
black/white blocks so it survives lossy VP8/H264 compression and rescaling;
a white/black reference pair lets the reader pick a threshold per image.

Layout (normalised to the frame, so any scaled copy reads the same way)::

    y 0.00-0.06   moving stripes (keeps the encoder busy)
    y 0.06-0.36   bits 15..8  (8 blocks, MSB on the left)
    y 0.36-0.66   bits  7..0  (8 blocks)
    y 0.66-0.72   moving stripes
    y 0.72-0.96   [white ref | black ref | moving stripes ...]
                   x 0-0.25     x 0.25-0.5   x 0.5-1.0
    y 0.96-1.00   moving stripes
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CODE_BITS",
    "MediaSource",
    "av_input",
    "decode_numbers",
    "numbered_frame_luma",
    "read_frame_number",
    "write_numbered_y4m",
]

CODE_BITS = 16
_COLS = 8
_CODE_TOP = 0.06
_CODE_ROW_H = 0.30
_REF_TOP = 0.72
_REF_BOTTOM = 0.96
_WHITE_X = (0.0, 0.25)
_BLACK_X = (0.25, 0.5)
# Limited-range luma extremes; the reader thresholds relative to the refs,
# so full vs limited range interpretation by a decoder does not matter.
_Y_BLACK = 16
_Y_WHITE = 235
# Fraction of a block (each axis) that the reader averages around its centre.
_SAMPLE_FRACTION = 0.4
# Reader rejects images whose references differ by less than this (0-255).
_MIN_CONTRAST = 48.0
# ... and bits closer to the threshold than this fraction of the contrast.
_MIN_MARGIN = 0.2

_Box = tuple[float, float, float, float]  # x0, y0, x1, y1 (normalised)


def _bit_boxes() -> list[_Box]:
    """Boxes of the 16 code blocks, MSB first (row-major)."""
    boxes: list[_Box] = []
    for row in range(CODE_BITS // _COLS):
        y0 = _CODE_TOP + row * _CODE_ROW_H
        for col in range(_COLS):
            boxes.append((col / _COLS, y0, (col + 1) / _COLS, y0 + _CODE_ROW_H))
    return boxes


_BIT_BOXES = _bit_boxes()
_WHITE_BOX: _Box = (_WHITE_X[0], _REF_TOP, _WHITE_X[1], _REF_BOTTOM)
_BLACK_BOX: _Box = (_BLACK_X[0], _REF_TOP, _BLACK_X[1], _REF_BOTTOM)

# Cell ids in the label map used by the writer.
_WHITE_ID = CODE_BITS
_BLACK_ID = CODE_BITS + 1
_MOVING_ID = CODE_BITS + 2


def _label_map(width: int, height: int) -> npt.NDArray[np.int8]:
    """Per-pixel cell id (0..15 bits, refs, moving background) for a size."""
    labels = np.full((height, width), _MOVING_ID, dtype=np.int8)
    boxes = [*_BIT_BOXES, _WHITE_BOX, _BLACK_BOX]
    for cell_id, (x0, y0, x1, y1) in enumerate(boxes):
        labels[
            round(y0 * height) : round(y1 * height),
            round(x0 * width) : round(x1 * width),
        ] = cell_id
    return labels


def _bits(index: int) -> npt.NDArray[np.uint8]:
    """16 bits of index, MSB first."""
    shifts = np.arange(CODE_BITS - 1, -1, -1)
    return ((index >> shifts) & 1).astype(np.uint8)


def _luma_for(
    index: int, labels: npt.NDArray[np.int8], moving: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    lut = np.empty(_MOVING_ID + 1, dtype=np.uint8)
    lut[:CODE_BITS] = np.where(_bits(index) == 1, _Y_WHITE, _Y_BLACK)
    lut[_WHITE_ID] = _Y_WHITE
    lut[_BLACK_ID] = _Y_BLACK
    lut[_MOVING_ID] = 0
    luma = lut[labels]
    is_moving = labels == _MOVING_ID
    luma[is_moving] = moving[is_moving]
    return luma


def _moving_pattern(index: int, width: int, height: int) -> npt.NDArray[np.uint8]:
    """Diagonal grey stripes drifting a few pixels per frame."""
    ys, xs = np.ogrid[:height, :width]
    phase = (xs + ys + 3 * index) % 48
    return (60 + phase * 3).astype(np.uint8)  # 60..201: never pure black/white


def numbered_frame_luma(index: int, width: int = 320, height: int = 240) -> npt.NDArray[np.uint8]:
    """Luma plane (H x W) of frame `index`; chroma is neutral grey."""
    if not 0 <= index < 1 << CODE_BITS:
        raise ValueError(f"frame index {index} does not fit in {CODE_BITS} bits")
    return _luma_for(index, _label_map(width, height), _moving_pattern(index, width, height))


def write_numbered_y4m(
    path: Path, frames: int, fps: int = 15, width: int = 320, height: int = 240
) -> None:
    """Write a 4:2:0 Y4M (usable as Chromium's fake camera) of numbered frames."""
    if width % 2 or height % 2:
        raise ValueError("width and height must be even for 4:2:0")
    if frames > 1 << CODE_BITS:
        raise ValueError(f"at most {1 << CODE_BITS} frames can be numbered")
    labels = _label_map(width, height)
    chroma = np.full((height // 2) * (width // 2) * 2, 128, dtype=np.uint8).tobytes()
    header = f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n"
    with open(path, "wb") as out:
        out.write(header.encode("ascii"))
        for index in range(frames):
            out.write(b"FRAME\n")
            out.write(_luma_for(index, labels, _moving_pattern(index, width, height)).tobytes())
            out.write(chroma)


def _box_mean(luma: npt.NDArray[np.float32], box: _Box) -> float:
    """Average of the central part of a box, so block edges and ringing don't count."""
    height, width = luma.shape
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2 * width, (y0 + y1) / 2 * height
    hw = max((x1 - x0) * width * _SAMPLE_FRACTION / 2, 0.5)
    hh = max((y1 - y0) * height * _SAMPLE_FRACTION / 2, 0.5)
    c0, c1 = int(round(cx - hw)), max(int(round(cx + hw)), int(round(cx - hw)) + 1)
    r0, r1 = int(round(cy - hh)), max(int(round(cy + hh)), int(round(cy - hh)) + 1)
    region = luma[max(r0, 0) : min(r1, height), max(c0, 0) : min(c1, width)]
    return float(region.mean()) if region.size else float("nan")


def read_frame_number(rgb: npt.NDArray[Any]) -> int | None:
    """Frame index encoded in an RGB image (0-255, any size), or None if unreadable."""
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.shape[0] < 8 or rgb.shape[1] < 8:
        return None
    pixels = rgb[:, :, :3].astype(np.float32)
    luma = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    white = _box_mean(luma, _WHITE_BOX)
    black = _box_mean(luma, _BLACK_BOX)
    contrast = white - black
    if not contrast >= _MIN_CONTRAST:  # also rejects NaN
        return None
    threshold = (white + black) / 2
    values = np.array([_box_mean(luma, box) for box in _BIT_BOXES])
    if not np.all(np.abs(values - threshold) >= _MIN_MARGIN * contrast):
        return None
    number = 0
    for bit in values > threshold:
        number = (number << 1) | int(bit)
    return number


# A media file to read: a plain file's path, or a file object (a sealed file the server wrote,
# opened through its Vault: `with vault.open(path) as f: decode_numbers(f)`).
MediaSource = Path | str | io.IOBase


def av_input(source: MediaSource) -> Any:
    """What `av.open` takes for `source`; a file object is rewound (it may be read twice)."""
    if isinstance(source, (Path, str)):
        return str(source)
    source.seek(0)
    return source


def decode_numbers(source: MediaSource) -> list[int | None]:
    """Frame numbers read from every video frame of a file, in display order."""
    import av

    with av.open(av_input(source), "r") as container:
        return [
            read_frame_number(frame.to_ndarray(format="rgb24"))
            for frame in container.decode(video=0)
        ]
