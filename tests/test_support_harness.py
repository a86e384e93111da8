"""Proves the end-to-end test toolkit itself: numbered video and browser reads.

If these fail, every WebRTC end-to-end test built on tests.support is suspect.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import av
import numpy as np
import pytest
from aiohttp import web

from tests.support.browser import (
    launch_browser,
    new_desktop_context,
    new_phone_context,
    wait_for_frame_numbers,
)
from tests.support.numbered_video import decode_numbers, read_frame_number, write_numbered_y4m

FRAMES = 45
FPS = 15


@pytest.fixture
def numbered_y4m(tmp_path: Path) -> Path:
    path = tmp_path / "numbered.y4m"
    write_numbered_y4m(path, FRAMES, fps=FPS)
    return path


def _codec_available(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


def _transcode(src: Path, dst: Path, codec: str, bit_rate: int, options: dict[str, object]) -> None:
    """Re-encode with a lossy codec, the way a WebRTC sender would damage frames."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream(codec, rate=FPS)
        assert isinstance(stream, av.VideoStream)
        stream.width = 320
        stream.height = 240
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = bit_rate
        stream.options = options
        for index, frame in enumerate(inp.decode(video=0)):
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def test_y4m_reads_back_exactly(numbered_y4m: Path) -> None:
    assert decode_numbers(numbered_y4m) == list(range(FRAMES))


def test_y4m_header_is_chromium_friendly(numbered_y4m: Path) -> None:
    header = numbered_y4m.read_bytes().split(b"\n", 1)[0]
    assert header == b"YUV4MPEG2 W320 H240 F15:1 Ip A1:1 C420jpeg"
    assert numbered_y4m.stat().st_size == len(header) + 1 + FRAMES * (6 + 320 * 240 * 3 // 2)


@pytest.mark.parametrize(
    ("codec", "container", "bit_rate", "options"),
    [
        pytest.param("libvpx", "webm", 60_000, {"deadline": "realtime", "cpu-used": "8"}, id="vp8"),
        pytest.param("libx264", "mp4", 60_000, {"preset": "veryfast"}, id="h264"),
    ],
)
def test_numbers_survive_lossy_encoding(
    numbered_y4m: Path,
    tmp_path: Path,
    codec: str,
    container: str,
    bit_rate: int,
    options: dict[str, object],
) -> None:
    if not _codec_available(codec):
        pytest.skip(f"{codec} encoder not available in this PyAV build")
    encoded = tmp_path / f"encoded.{container}"
    _transcode(numbered_y4m, encoded, codec, bit_rate, options)
    assert decode_numbers(encoded) == list(range(FRAMES))


@pytest.mark.parametrize(
    ("width", "height"),
    [(107, 80), (640, 480), (96, 96), (1280, 720), (40, 30)],
    ids=["third", "double", "squashed", "stretched-hd", "tiny"],
)
def test_scaled_frames_still_read(numbered_y4m: Path, width: int, height: int) -> None:
    with av.open(str(numbered_y4m)) as inp:
        for index, frame in enumerate(inp.decode(video=0)):
            if index in (0, 1, 22, 44):
                rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
                assert rgb.shape == (height, width, 3)
                assert read_frame_number(rgb) == index


def test_unreadable_images_give_none(numbered_y4m: Path) -> None:
    rng = np.random.default_rng(1)
    assert read_frame_number(np.full((240, 320, 3), 128, dtype=np.uint8)) is None
    assert read_frame_number(np.zeros((240, 320, 3), dtype=np.uint8)) is None
    assert read_frame_number(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) is None
    with av.open(str(numbered_y4m)) as inp:
        rgb = next(iter(inp.decode(video=0))).to_ndarray(format="rgb24")
    assert read_frame_number(255 - rgb) is None  # swapped references
    blended = ((rgb.astype(np.uint16) + (255 - rgb)) // 2).astype(np.uint8)
    assert read_frame_number(blended) is None


_CAMERA_PAGE = """<!doctype html>
<meta name="viewport" content="width=device-width, initial-scale=1">
<video id="camera" autoplay muted playsinline style="width: 100%"></video>
<script>
  navigator.mediaDevices
    .getUserMedia({ video: true })
    .then((stream) => {
      document.getElementById("camera").srcObject = stream;
      window.cameraSettings = stream.getVideoTracks()[0].getSettings();
    })
    .catch((error) => { window.cameraError = String(error); });
</script>
"""


@asynccontextmanager
async def _serve_camera_page() -> AsyncIterator[str]:
    """Serve the page from 127.0.0.1: a secure context, unlike about:blank."""
    app = web.Application()

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=_CAMERA_PAGE, content_type="text/html")

    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
@pytest.mark.parametrize("device", ["phone", "desktop"])
async def test_browser_reads_live_fake_camera(tmp_path: Path, device: str) -> None:
    fake_camera = tmp_path / "camera.y4m"
    write_numbered_y4m(fake_camera, FPS * 5, fps=FPS)
    async with _serve_camera_page() as url, launch_browser(fake_camera) as browser:
        make_context = new_phone_context if device == "phone" else new_desktop_context
        context = await make_context(browser)
        page = await context.new_page()
        await page.goto(url)
        await page.wait_for_function("window.cameraSettings || window.cameraError")
        assert await page.evaluate("window.cameraError") is None
        settings = await page.evaluate("window.cameraSettings")
        assert (settings["width"], settings["height"]) == (320, 240)

        started = time.monotonic()
        numbers = await wait_for_frame_numbers(page, "#camera", count=5, timeout=10.0)
        elapsed = time.monotonic() - started
        assert numbers == sorted(set(numbers)) and len(numbers) == 5
        assert all(0 <= n < FPS * 5 for n in numbers)
        # 5 increasing frames of a 15 fps source span at least 3 frame periods.
        assert elapsed > 3 / FPS * 0.5

        # A frozen picture must fail loudly (and promptly), not pass or hang.
        await page.evaluate("document.getElementById('camera').pause()")
        with pytest.raises(AssertionError, match="increasing frame numbers"):
            await wait_for_frame_numbers(page, "#camera", count=2, timeout=0.6)
        with pytest.raises(AssertionError, match="unreadable"):
            await wait_for_frame_numbers(page, "#no-such-video", count=2, timeout=0.2)
        await context.close()
