"""Clips are frame-accurate, on and off keyframes, for VP8 and H264; stills are exact."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from tests.support.numbered_video import av_input, read_frame_number
from tests.support.recordings import make_recording
from tests.support.vaults import standalone_vault
from tests.test_recording import decoded_numbers
from vigremote.clips.cutting import CutError, cut_clip, still_png
from vigremote.clips.frames import cached_index, index_video
from vigremote.vault.files import Vault


@pytest.fixture(scope="module")
def vault_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Vault, Path]:
    """A vault and a case folder shared by the module's recordings."""
    return standalone_vault(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def vault(vault_case: tuple[Vault, Path]) -> Vault:
    return vault_case[0]


@pytest.fixture
def case_folder(vault_case: tuple[Vault, Path], tmp_path: Path) -> Path:
    """A fresh folder of the module's case, for one test's clips."""
    folder = vault_case[1] / tmp_path.name
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def vp8_recording(vault_case: tuple[Vault, Path]) -> Path:
    vault, folder = vault_case
    path = folder / "segment-001.webm"
    make_recording(vault, path, frames=300, keyframe_every=60)
    return path


@pytest.fixture(scope="module")
def h264_recording(vault_case: tuple[Vault, Path]) -> Path:
    vault, folder = vault_case
    path = folder / "segment-001.mkv"
    make_recording(vault, path, frames=150, keyframe_every=60, codec="H264")
    return path


def test_index_lists_every_frame_and_keyframe(vault: Vault, vp8_recording: Path) -> None:
    index = index_video(vault, vp8_recording)
    assert len(index) == 300
    assert index.keyframes == [0, 60, 120, 180, 240]
    assert index.pts == sorted(index.pts)
    assert cached_index(vault, vp8_recording) == index  # and from the cache the second time
    assert cached_index(vault, vp8_recording) == index


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
    vault: Vault, vp8_recording: Path, case_folder: Path, first: int, last: int
) -> None:
    clip = case_folder / "clip.webm"
    result = cut_clip(vault, vp8_recording, clip, first, last)
    with vault.open(clip) as sealed_clip:
        numbers, times = decoded_numbers(sealed_clip)
        assert numbers == list(range(first, last + 1))
        assert result.frames == last - first + 1
        assert times[0] == 0.0
        expected_reencoded = 0 if first % 60 == 0 else min(last + 1, (first // 60 + 1) * 60) - first
        assert result.reencoded_frames == expected_reencoded
        with av.open(av_input(sealed_clip), "r") as container:
            assert container.streams.video[0].codec_context.name == "vp8"
            audio = [p for p in container.demux(container.streams.audio[0]) if p.pts is not None]
            assert audio, "the clip keeps its sound"
            assert abs(float(audio[-1].pts * audio[-1].time_base) - times[-1]) < 0.06


@pytest.mark.parametrize(("first", "last"), [(60, 100), (75, 140), (10, 20)])
def test_h264_clip_has_exactly_the_chosen_frames(
    vault: Vault, h264_recording: Path, case_folder: Path, first: int, last: int
) -> None:
    clip = case_folder / "clip.mkv"
    cut_clip(vault, h264_recording, clip, first, last)
    with vault.open(clip) as sealed_clip:
        numbers, _ = decoded_numbers(sealed_clip)
    assert numbers == list(range(first, last + 1))


@pytest.mark.parametrize("frame", [0, 59, 60, 61, 133, 299])
def test_still_is_the_exact_frame(vault: Vault, vp8_recording: Path, frame: int) -> None:
    png = still_png(vault, vp8_recording, frame)
    assert png.startswith(b"\x89PNG")
    with av.open(io.BytesIO(png)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert read_frame_number(image) == frame


@pytest.mark.parametrize(("first", "last"), [(-1, 5), (5, 4), (0, 300)])
def test_bad_frame_numbers_are_refused(
    vault: Vault, vp8_recording: Path, case_folder: Path, first: int, last: int
) -> None:
    clip = case_folder / "clip.webm"
    with pytest.raises(CutError):
        cut_clip(vault, vp8_recording, clip, first, last)
    assert not clip.exists() and not list(case_folder.iterdir())


def test_clip_packets_are_written_in_time_order(vault: Vault, case_folder: Path) -> None:
    """Sound and picture interleaved: a reader streaming the clip gets both from the start
    (longer than FFmpeg's 10 s interleaving window, which would otherwise hide the order)."""
    recording = case_folder / "long.webm"
    make_recording(vault, recording, frames=450, keyframe_every=60)
    clip = case_folder / "clip.webm"
    cut_clip(vault, recording, clip, 15, 449)
    with vault.open(clip) as sealed_clip, av.open(sealed_clip, "r") as container:
        order = [
            (p.stream.type, float(p.pts * p.time_base))
            for p in container.demux()
            if p.pts is not None and p.time_base is not None
        ]
    first_audio = next(i for i, (kind, _) in enumerate(order) if kind == "audio")
    assert order[first_audio][1] < 0.1
    assert all(t < 0.5 for _, t in order[: first_audio + 1])
