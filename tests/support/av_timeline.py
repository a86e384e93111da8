"""Media whose timeline can be checked after recording: numbered frames and a click a second.

Video frame n is shown at n / fps seconds and the audio clicks at every whole second k, exactly
when frame k * fps is shown, with a tone whose pitch says k. From a recorded file one can then
tell how many frames are missing (the numbers) and how far audio and video drifted apart (each
click against its own frame), also after a hole in the video that lasted seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from tests.support.numbered_video import MediaSource, av_input, read_frame_number
from tests.support.publisher import EncodedMedia, encode_clicks, encode_numbered_video

CLICK_LEVEL = 16000
_OPUS_MS = 20
_BASE_HZ, _STEP_HZ = 300, 150


def click_hz(second: int) -> int:
    """The pitch of the click at second `second` of the loop (at most 20 distinct pitches)."""
    return _BASE_HZ + _STEP_HZ * (second % 20)


def timeline_media(
    seconds: int = 20,
    fps: int = 30,
    width: int = 320,
    height: int = 240,
    gop: int = 30,
    bit_rate: int = 600_000,
    grain: bool = False,
) -> EncodedMedia:
    """`seconds` of numbered VP8 frames (looped by the publisher) and Opus with a click a second.

    With `grain`, the moving bands carry random noise, so the stream really is `bit_rate`
    (a camera's grain; plain numbered frames compress to a fraction of it).
    """
    if seconds > 20:
        raise ValueError("the clicks tell at most 20 seconds apart")
    noise = np.random.default_rng(7)
    video = encode_numbered_video(
        seconds * fps,
        fps,
        width,
        height,
        gop,
        bit_rate,
        touch=(lambda luma: _add_grain(luma, noise)) if grain else None,
    )
    per_second = 1000 // _OPUS_MS
    audio = encode_clicks(
        seconds * per_second,
        lambda i: click_hz(i // per_second) if i % per_second == 0 else None,
        level=CLICK_LEVEL,
        packet_ms=_OPUS_MS,
    )
    return EncodedMedia(video, audio, fps)


def _add_grain(luma: np.ndarray, noise: np.random.Generator) -> None:  # type: ignore[type-arg]
    """Noise in the bands of moving stripes only (see numbered_video's layout)."""
    height, width = luma.shape
    bands = [
        (slice(0, int(0.06 * height)), slice(0, width)),
        (slice(int(0.97 * height) + 1, height), slice(0, width)),
        (slice(int(0.72 * height) + 2, int(0.96 * height) - 1), slice(int(0.5 * width) + 2, width)),
    ]
    for rows, cols in bands:
        region = luma[rows, cols]
        region[:] = noise.integers(60, 200, region.shape, dtype=np.uint8)


@dataclass
class Timeline:
    """What a recorded file says about its own timeline."""

    frames: int  # video frames decoded
    unreadable: int  # frames whose number could not be read (e.g. decoded from a broken chain)
    undecodable: int  # packets the decoder refused
    frames_lost: int  # numbers skipped between the first and the last frame
    worst_av_offset_ms: float  # the worst |click - its frame| over the file
    clicks_matched: int
    worst_video_hole_ms: float  # the longest time between two recorded video frames


def read_timeline(source: MediaSource, loop_frames: int, fps: int = 30) -> Timeline:
    """Decode a recording made from `timeline_media` (`loop_frames` long) and measure it
    (a sealed recording: pass the file its Vault opened)."""
    numbers: list[int] = []
    times: list[float] = []
    unreadable = 0
    undecodable = 0
    with av.open(av_input(source), "r") as container:
        for packet in container.demux(video=0):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:  # e.g. a frame whose reference was lost
                undecodable += 1
                continue
            for frame in frames:
                number = read_frame_number(frame.to_ndarray(format="rgb24"))
                if number is None or frame.time is None:
                    unreadable += 1
                    continue
                numbers.append(number)
                times.append(float(frame.time))
    lost, hole = 0, 0.0
    for (a, ta), (b, tb) in zip(
        zip(numbers, times, strict=True), zip(numbers[1:], times[1:], strict=True), strict=False
    ):
        # The publisher loops: unwrap with the recorded time, which says how many loops passed.
        loops = round(((tb - ta) * fps - (b - a) % loop_frames) / loop_frames)
        step = (b - a) % loop_frames + max(loops, 0) * loop_frames
        lost += max(step - 1, 0)
        hole = max(hole, tb - ta)
    offsets = _click_offsets(source, numbers, times, fps)
    return Timeline(
        frames=len(numbers) + unreadable,
        unreadable=unreadable,
        undecodable=undecodable,
        frames_lost=lost,
        worst_av_offset_ms=round(
            float(max((abs(o) for o in offsets), default=float("nan"))) * 1000, 1
        ),
        clicks_matched=len(offsets),
        worst_video_hole_ms=round(hole * 1000, 1),
    )


def clicks(source: MediaSource, min_spacing_s: float = 0.5) -> list[tuple[float, int]]:
    """(onset time, second of the loop told by its pitch) of every click in the audio."""
    found: list[tuple[float, int]] = []
    with av.open(av_input(source), "r") as container:
        frames = [
            (float(f.time), f.sample_rate, f.to_ndarray().astype(np.float64).mean(axis=0))
            for f in container.decode(audio=0)
            if f.time is not None
        ]
    for index, (start, rate, samples) in enumerate(frames):
        loud = np.nonzero(np.abs(samples) > 0.1)[0]
        if not len(loud):
            continue
        onset = start + loud[0] / rate
        if found and onset - found[-1][0] <= min_spacing_s:
            continue
        following = [s for _, _, s in frames[index + 1 : index + 2]]
        window = np.concatenate([samples[loud[0] :], *following])[: rate // 100]
        spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window)), n=rate))
        pitch = float(np.argmax(spectrum[100:4000]) + 100)
        found.append((onset, round((pitch - _BASE_HZ) / _STEP_HZ)))
    return found


def _click_offsets(
    source: MediaSource, numbers: list[int], times: list[float], fps: int
) -> list[float]:
    """Each click against the nearest recorded frame that was shown with it (number k * fps).

    A click whose frame was not recorded (its video was lost) is not counted.
    """
    offsets = []
    for onset, second in clicks(source):
        shown_with = [t for n, t in zip(numbers, times, strict=True) if n == second * fps]
        if shown_with:
            offsets.append(onset - min(shown_with, key=lambda t: abs(t - onset)))
    return offsets
