"""End to end in real Chromium: consent on the family's phone, record, reload, decode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import av
from playwright.async_api import Page

from tests.conftest import RunningServer
from tests.support.browser import launch_browser, new_desktop_context, new_phone_context
from tests.support.numbered_video import MediaSource, av_input, write_numbered_y4m
from tests.test_e2e_filming import practitioner_logs_in
from tests.test_recording import decoded_numbers
from vigremote.paths import recording_dir
from vigremote.state import RECORDINGS, VAULT

LOOP = 300  # frames in the fake camera's file (20 s at 15 fps)


@dataclass
class Pages:
    family: Page
    practitioner: Page
    session_id: str


@asynccontextmanager
async def filming(server: RunningServer, tmp_path: Path) -> AsyncIterator[Pages]:
    camera = tmp_path / "numbered.y4m"
    write_numbered_y4m(camera, frames=LOOP, fps=15)
    owner = server.add_user("alice")
    created = server.new_session(owner)
    async with launch_browser(camera) as browser:
        family = await (await new_phone_context(browser)).new_page()
        practitioner = await (await new_desktop_context(browser)).new_page()
        await practitioner_logs_in(practitioner, server, "alice")
        await practitioner.goto(f"{server.url}/app#live/{created['session']['id']}")
        await family.goto(created["family_link"])
        await family.click("#start")
        await practitioner.wait_for_function(
            "document.querySelector('#family-state').dataset.state === 'connected'"
        )
        yield Pages(family, practitioner, created["session"]["id"])


async def give_consent(pages: Pages) -> None:
    family, practitioner = pages.family, pages.practitioner
    # Without consent the record button is disabled.
    assert await practitioner.is_disabled("#rec-start")
    await family.wait_for_selector("#consent-panel:not([hidden])")
    assert "recorded" in (await family.text_content("#consent-intro") or "")
    await family.check("#consent-purposes input[name=analysis]")
    await family.check("#consent-purposes input[name=shared_review]")
    await family.click("#consent-agree")
    await practitioner.wait_for_selector("#rec-start:not([disabled])")
    summary = await practitioner.text_content("#consent-summary") or ""
    assert "your analysis" in summary and "shared review" in summary


def segment_of(server: RunningServer, session_id: str) -> tuple[str, Path]:
    store = server.app[RECORDINGS]
    [recording] = store.of_session(session_id)
    [name] = store.segments(recording.id)
    folder = recording_dir(server.config.data_dir, recording.case_id, recording.id)
    return recording.id, folder / name


def keyframe_times(source: MediaSource) -> list[float]:
    with av.open(av_input(source), "r") as container:
        stream = container.streams.video[0]
        return [
            float(p.pts * p.time_base)
            for p in container.demux(stream)
            if p.is_keyframe and p.pts is not None and p.time_base is not None
        ]


async def test_consent_record_ten_seconds_and_decode(server: RunningServer, tmp_path: Path) -> None:
    async with filming(server, tmp_path) as pages:
        await give_consent(pages)
        await pages.practitioner.click("#rec-start")
        await pages.family.wait_for_selector("#rec-indicator:not([hidden])")
        await pages.practitioner.wait_for_selector("#rec-indicator:not([hidden])")
        await asyncio.sleep(5)
        await pages.practitioner.click("#bookmark")
        await asyncio.sleep(5)
        timer = await pages.family.text_content("#rec-timer")
        assert timer in ("00:09", "00:10", "00:11"), timer
        await pages.practitioner.click("#rec-stop")
        await pages.family.wait_for_selector("#rec-indicator", state="hidden")

    recording_id, segment = segment_of(server, pages.session_id)
    recording = server.app[RECORDINGS].get(recording_id)
    assert recording.status == "complete"
    assert [m["kind"] for m in server.app[RECORDINGS].marks(recording_id)] == ["bookmark"]
    with server.app[VAULT].open(segment) as sealed:
        numbers, times = decoded_numbers(sealed)
        keys = keyframe_times(sealed)
    assert None not in numbers
    assert 9.0 <= times[-1] - times[0] <= 11.5, times[-1] - times[0]
    steps = [(b - a) % LOOP for a, b in zip(numbers, numbers[1:], strict=False)]  # type: ignore[operator]
    # In order, and no jump larger than Chromium's own frame skipping on a busy machine.
    assert min(steps) >= 1 and max(steps) <= 4, sorted(set(steps))
    assert len(numbers) >= 0.8 * 15 * (times[-1] - times[0])
    # Seekable: the recorder asks for a keyframe every 2 s and the browser obliges.
    assert keys[0] == times[0]
    gaps = [b - a for a, b in zip(keys, keys[1:], strict=False)]
    assert gaps and max(gaps) <= 2.6, gaps


async def test_reload_mid_recording_keeps_one_recording(
    server: RunningServer, tmp_path: Path
) -> None:
    async with filming(server, tmp_path) as pages:
        await give_consent(pages)
        await pages.practitioner.click("#rec-start")
        await pages.practitioner.wait_for_selector("#rec-indicator:not([hidden])")
        await asyncio.sleep(4)
        await pages.family.reload()
        await pages.family.click("#start")
        # Consent is remembered: no second question, and the indicator is back.
        await pages.family.wait_for_selector("#rec-indicator:not([hidden])")
        assert await pages.family.is_hidden("#consent-panel")
        await asyncio.sleep(4)
        await pages.practitioner.click("#rec-stop")
        await pages.practitioner.wait_for_selector("#rec-indicator", state="hidden")

    recording_id, segment = segment_of(server, pages.session_id)
    marks = server.app[RECORDINGS].marks(recording_id)
    with server.app[VAULT].open(segment) as sealed:
        numbers, times = decoded_numbers(sealed)
    assert None not in numbers
    gap_marks = [m["t_s"] for m in marks if m["kind"] in ("gap-start", "gap-end")]
    split = gap_marks[0] if gap_marks else 4.0
    before = [t for t in times if t < split]
    after = [t for t in times if t > split]
    assert before[-1] - before[0] > 3.0  # both parts are there
    assert after[-1] - after[0] > 3.0
