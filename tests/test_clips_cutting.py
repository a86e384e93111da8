"""Clips are frame-accurate, on and off keyframes, for VP8 and H264; stills are exact."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from tests.support.numbered_video import read_frame_number
from tests.support.recordings import make_recording
from tests.test_recording import decoded_numbers
from vigremote.clips.cutting import CutError, cut_clip, still_png
from vigremote.clips.frames import cached_index, index_video


@pytest.fixture(scope="module")
def vp8_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "segment-001.webm"
    make_recording(path, frames=300, keyframe_every=60)
    return path


@pytest.fixture(scope="module")
def h264_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "segment-001.mkv"
    make_recording(path, frames=150, keyframe_every=60, codec="H264")
    return path


def test_index_lists_every_frame_and_keyframe(vp8_recording: Path) -> None:
    index = index_video(vp8_recording)
    assert len(index) == 300
    assert index.keyframes == [0, 60, 120, 180, 240]
    assert index.pts == sorted(index.pts)
    assert cached_index(vp8_recording) == index  # and from the cache the second time
    assert cached_index(vp8_recording) == index


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (60, 150),  # starts on a keyframe: copied only
        (75, 200),  # off a keyframe: partial group re-encoded, the rest copied
        (61, 119),  # ends just before a keyframe
        (70, 80),  # inside one group: all re-encoded
        (59, 60),  # the frame before a keyframe and the keyframe
        (100, 100),  # a single frame
        (250, 299),  # up to the very last frame
        (0, 299),  # everything
    ],
)
def test_vp8_clip_has_exactly_the_chosen_frames(
    vp8_recording: Path, tmp_path: Path, first: int, last: int
) -> None:
    clip = tmp_path / "clip.webm"
    result = cut_clip(vp8_recording, clip, first, last)
    numbers, times = decoded_numbers(str(clip))
    assert numbers == list(range(first, last + 1))
    assert result.frames == last - first + 1
    assert times[0] == 0.0
    expected_reencoded = 0 if first % 60 == 0 else min(last + 1, (first // 60 + 1) * 60) - first
    assert result.reencoded_frames == expected_reencoded
    with av.open(str(clip)) as container:
        assert container.streams.video[0].codec_context.name == "vp8"
        audio = [p for p in container.demux(container.streams.audio[0]) if p.pts is not None]
        assert audio, "the clip keeps its sound"
        assert abs(float(audio[-1].pts * audio[-1].time_base) - times[-1]) < 0.06


@pytest.mark.parametrize(("first", "last"), [(60, 100), (75, 140), (10, 20)])
def test_h264_clip_has_exactly_the_chosen_frames(
    h264_recording: Path, tmp_path: Path, first: int, last: int
) -> None:
    clip = tmp_path / "clip.mkv"
    cut_clip(h264_recording, clip, first, last)
    numbers, _ = decoded_numbers(str(clip))
    assert numbers == list(range(first, last + 1))


@pytest.mark.parametrize("frame", [0, 59, 60, 61, 133, 299])
def test_still_is_the_exact_frame(vp8_recording: Path, frame: int) -> None:
    png = still_png(vp8_recording, frame)
    assert png.startswith(b"\x89PNG")
    with av.open(io.BytesIO(png)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert read_frame_number(image) == frame


@pytest.mark.parametrize(("first", "last"), [(-1, 5), (5, 4), (0, 300)])
def test_bad_frame_numbers_are_refused(
    vp8_recording: Path, tmp_path: Path, first: int, last: int
) -> None:
    clip = tmp_path / "clip.webm"
    with pytest.raises(CutError):
        cut_clip(vp8_recording, clip, first, last)
    assert not clip.exists() and not list(tmp_path.iterdir())


def test_clip_packets_are_written_in_time_order(tmp_path: Path) -> None:
    """Sound and picture interleaved: a reader streaming the clip gets both from the start
    (longer than FFmpeg's 10 s interleaving window, which would otherwise hide the order)."""
    recording = tmp_path / "long.webm"
    make_recording(recording, frames=450, keyframe_every=60)
    clip = tmp_path / "clip.webm"
    cut_clip(recording, clip, 15, 449)
    with av.open(str(clip)) as container:
        order = [
            (p.stream.type, float(p.pts * p.time_base))
            for p in container.demux()
            if p.pts is not None and p.time_base is not None
        ]
    first_audio = next(i for i, (kind, _) in enumerate(order) if kind == "audio")
    assert order[first_audio][1] < 0.1
    assert all(t < 0.5 for _, t in order[: first_audio + 1])
