"""Benchmark: how late a review hold reaches real browsers, what they show at 1×, clip starts.

A vigremote server runs in this process (so its steps can be timed), with a shared review of
two clips cut from a numbered 640x480 30 fps VP8 recording (sealed, as the server seals its
files, under a master key made for the run and given to the server's Config). Three headless
Chromium pages join it: the practitioner (laptop), the family (phone emulation) and an observer.
The practitioner's page is driven by its own buttons (play/pause, the scrub bar, the step
buttons, next/previous).

Every page runs tests/support/frame_probe.js: each frame its clip <video> presents
(requestVideoFrameCallback) is noted with the number drawn on it, read in the page, so nothing
polls from outside. For each hold (pause, seek, step; `--holds`, 20) and each browser:

    click ─► command sent ─► server got it ─► keyframe encoded ─► published ─► packets sent
      ─► last packet received by the browser (rVFC receiveTime) ─► presented (presentationTime)

`total` is click → the held frame presented in that <video>. The browser's side is also read
from getStats on the clip receiver before and after (jitterBufferDelay per emitted frame,
frames received/decoded/dropped, NACK/PLI, freezes). Also:
- at 1× (`--fps-seconds`, 4): frames each browser presented (rVFC), decoded and dropped,
  against the frames the server sent;
- clip starts (`--starts`, 4): select the other clip and press play at once, or once the first
  frame is shown: the first frame each browser then shows (the family once skipped 17-20).

`--baseline` runs with the fix switched off (fix_switched_off), the default runs the baseline and
then the fixed code, each on a fresh server and browser, so both are measured on the same machine
in the same minute. Timing on a loaded 2-core machine is pessimistic: other load is reported.

    .venv/bin/python bench/review_holds.py --json /tmp/holds.json [--baseline] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench`, `tests` as packages

import aiohttp
from aiohttp import web
from playwright.async_api import Browser, Page

from bench.procs import free_port
from bench.review import machine_seconds, new_master_key, post, seed_data, versions
from tests.support.browser import launch_browser, new_desktop_context, new_phone_context
from tests.support.recordings import make_recording
from tests.support.vaults import standalone_vault
from vigremote.app import create_app
from vigremote.config import Config
from vigremote.state import ROOMS, SIGNER
from vigremote.vault.files import Vault

FPS = 30
USER, PASSWORD = "bench", "bench password 123"
PROBE_JS = (Path(__file__).resolve().parents[1] / "tests/support/frame_probe.js").read_text()
WITHIN_MS = 150.0
ROLES = ("practitioner", "family", "observer")
STAT_FIELDS = (
    "framesReceived",
    "framesDecoded",
    "framesDropped",
    "keyFramesDecoded",
    "framesRendered",
    "jitterBufferDelay",
    "jitterBufferTargetDelay",
    "jitterBufferMinimumDelay",
    "jitterBufferEmittedCount",
    "totalProcessingDelay",
    "totalDecodeTime",
    "totalAssemblyTime",
    "freezeCount",
    "totalFreezesDuration",
    "nackCount",
    "pliCount",
    "firCount",
    "packetsLost",
    "packetsReceived",
    "retransmittedPacketsReceived",
    "bytesReceived",
    "totalVideoFrames",
    "droppedVideoFrames",
)


# -- the server, instrumented ------------------------------------------------------------------
class ServerLog:
    """What the server did and when (epoch seconds), from wrappers put around its steps."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.packets: list[tuple[float, int, bool, int]] = []  # (at, ssrc, marker, bytes)
        self.watched: set[int] = set()  # ssrcs of the clip-video senders
        self.rtcp: list[tuple[float, str, int]] = []  # (at, PLI/NACK, media ssrc)

    def note(self, kind: str, **detail: Any) -> None:
        self.events.append((time.time(), kind, detail))

    def after(self, kind: str, since: float) -> tuple[float, dict[str, Any]] | None:
        return next(((at, d) for at, k, d in self.events if k == kind and at >= since), None)


@contextmanager
def instrumented(log: ServerLog) -> Iterator[None]:
    """Wrap the player's steps and aiortc's RTP sending; undone on exit."""
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcrtpsender import RTCRtpSender
    from aiortc.rtp import is_rtcp

    from vigremote.review import clipmedia, control, video_out

    saved: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        saved.append((owner, name, original))
        setattr(owner, name, make(original))

    def command(original: Any) -> Any:
        async def handle(app: Any, room: Any, participant: Any, message: Any) -> None:
            log.note("command", action=message.get("action"), role=participant.role)
            await original(app, room, participant, message)

        return handle

    def hold(original: Any) -> Any:
        def timed(self: Any, frame: int) -> bytes:
            log.note("encode-start", frame=frame)
            data: bytes = original(self, frame)
            log.note("encode-end", frame=frame, bytes=len(data))
            return data

        return timed

    def publish(original: Any) -> Any:
        def timed(self: Any, data: bytes, keyframe: bool) -> None:
            log.note("publish", keyframe=keyframe, bytes=len(data), frame=self.sent)
            original(self, data, keyframe)

        return timed

    def send_rtp(original: Any) -> Any:
        async def timed(self: Any, data: bytes) -> None:
            if len(data) > 12 and not is_rtcp(data):
                ssrc = int.from_bytes(data[8:12], "big")
                if ssrc in log.watched:
                    log.packets.append((time.time(), ssrc, bool(data[1] & 0x80), len(data)))
            await original(self, data)

        return timed

    def rtcp(original: Any) -> Any:
        async def timed(self: Any, packet: Any) -> None:
            name, fmt = type(packet).__name__, getattr(packet, "fmt", None)
            if self._ssrc in log.watched:
                if name == "RtcpPsfbPacket" and fmt in (1, 4):
                    log.rtcp.append((time.time(), "PLI", int(self._ssrc)))
                elif name == "RtcpRtpfbPacket" and fmt == 1:
                    for _ in packet.lost:
                        log.rtcp.append((time.time(), "NACK", int(self._ssrc)))
            await original(self, packet)

        return timed

    wrap(control, "handle_review", command)
    wrap(clipmedia.ClipCodec, "hold", hold)
    wrap(video_out.VideoOut, "_publish", publish)
    wrap(RTCDtlsTransport, "_send_rtp", send_rtp)
    wrap(RTCRtpSender, "_handle_rtcp_packet", rtcp)
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


async def clip_senders(app: web.Application, session_id: str) -> dict[int, str]:
    """ssrc of each participant's clip-video sender -> the participant's role."""
    room = app[ROOMS].get(session_id)
    found: dict[int, str] = {}
    if room is None:
        return found
    for member in await room.members():
        if member.peer is None:
            continue
        for transceiver in member.peer.pc.getTransceivers():
            track = transceiver.sender.track
            feed = getattr(track, "_feed", None)
            if feed is not None and feed.label.endswith("/player/video"):
                found[int(transceiver.sender._ssrc)] = member.role
    return found


# -- one run -----------------------------------------------------------------------------------
class Run:
    """One server and one browser with three pages in a shared review."""

    def __init__(
        self, work: Path, source: Vault, recording: Path, frames: int, baseline: bool
    ) -> None:
        self.work, self.recording, self.frames, self.baseline = work, recording, frames, baseline
        self.source = source  # the scratch vault the recording is sealed in
        self.log = ServerLog()
        self.pages: dict[str, Page] = {}
        self.firsts: list[int] = []  # each clip's first frame number in the recording
        self.lengths: list[int] = []
        self.ssrc_role: dict[int, str] = {}
        self.app: web.Application | None = None
        self.session_id = ""
        self.raw = False
        self.jitter_target: float | None = None

    # page helpers
    async def vig(self, role: str, expression: str, arg: Any = None) -> Any:
        return await self.pages[role].evaluate(expression, arg)

    async def state_after(self, since_ms: float, match: dict[str, Any]) -> dict[str, Any]:
        """The practitioner's first review-state after `since_ms` matching `match`."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            states = await self.vig(
                "practitioner", "s => window.__vig.states.filter(x => x.at >= s)", since_ms
            )
            for entry in states:
                if all(entry["state"].get(k) == v for k, v in match.items()):
                    return dict(entry["state"])
            await asyncio.sleep(0.03)
        raise TimeoutError(f"no review-state {match}")

    async def input_at(self, before: int) -> float:
        """When the practitioner's click/change (the newest input after index `before`) fired."""
        inputs = await self.vig("practitioner", "b => window.__vig.inputs.slice(b)", before)
        return float(inputs[-1]["at"]) if inputs else time.time() * 1000

    async def shown_everywhere(
        self, number: int, since_ms: float, timeout_s: float = 6.0
    ) -> dict[str, Any]:
        """For each page, the first presented frame showing `number` after `since_ms` (or None)."""

        async def one(role: str) -> Any:
            try:
                await self.pages[role].wait_for_function(
                    "([n, s]) => window.__vig.firstShown(n, s) !== null",
                    arg=[number, since_ms],
                    timeout=timeout_s * 1000,
                    polling=50,
                )
            except Exception:
                return None
            return await self.vig(
                role, "([n, s]) => window.__vig.firstShown(n, s)", [number, since_ms]
            )

        found = await asyncio.gather(*(one(r) for r in ROLES))
        return dict(zip(ROLES, found, strict=True))

    async def stats(self) -> dict[str, Any]:
        got = await asyncio.gather(*(self.vig(r, "() => window.__vig.clipStats()") for r in ROLES))
        return dict(zip(ROLES, got, strict=True))

    async def click(self, selector: str) -> float:
        before = await self.vig("practitioner", "() => window.__vig.inputs.length")
        await self.pages["practitioner"].click(selector)
        return await self.input_at(before)

    async def scrub(self, frame: int) -> float:
        before = await self.vig("practitioner", "() => window.__vig.inputs.length")
        await self.pages["practitioner"].eval_on_selector(
            "#scrub",
            "(el, f) => { el.value = String(f);"
            " el.dispatchEvent(new Event('change', {bubbles: true})); }",
            frame,
        )
        return await self.input_at(before)

    # setting up
    async def start_server(self) -> str:
        data = self.work / ("data-baseline" if self.baseline else "data-fixed")
        _, master_key = new_master_key()
        seeded = seed_data(data, master_key, self.source, self.recording, self.frames)
        config = Config(data_dir=data, host="127.0.0.1", port=free_port(), master_key=master_key)
        self.app = create_app(config)
        self.runner = web.AppRunner(self.app, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, config.host, config.port).start()
        url = config.base_url
        ranges = [(30, 299), (120, 329)]  # one starts off an original keyframe, one on it
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(
                f"{url}/api/login", json={"username": USER, "password": PASSWORD}
            ) as response:
                response.raise_for_status()
                csrf = str((await response.json())["csrf"])
            clips = []
            for first, last in ranges:
                body = {"first": first, "last": last, "title": f"Clip {first}"}
                cut = f"{url}/api/recordings/{seeded['recording_id']}/clips"
                clips.append((await post(http, cut, csrf, body))["clip"])
            items = {"items": [{"kind": "clip", "id": c["id"]} for c in clips]}
            review = await post(http, f"{url}/api/cases/{seeded['case_id']}/reviews", csrf, items)
        self.firsts = [int(c["first_frame"]) for c in clips]
        self.lengths = [last - first + 1 for first, last in ranges]
        self.session_id = review["session"]["id"]
        self.family_link = str(review["family_link"])
        self.observer_token = self.app[SIGNER].issue(
            self.session_id, "observer", "obs-1", "Observer", 3600
        )
        return url

    async def join(self, browser: Browser, url: str) -> None:
        flag = ""
        if self.jitter_target is not None:  # an experiment: set it on every video receiver
            flag = f"window.__vigJitterTarget = {self.jitter_target};\n"
        contexts = {
            "practitioner": await new_desktop_context(browser),
            "family": await new_phone_context(browser),
            "observer": await new_desktop_context(browser),
        }
        for role, context in contexts.items():
            await context.add_init_script(flag + PROBE_JS)
            self.pages[role] = await context.new_page()
        practitioner, family, observer = (self.pages[r] for r in ROLES)
        await practitioner.goto(f"{url}/app")
        await practitioner.fill("input[name=username]", USER)
        await practitioner.fill("input[name=password]", PASSWORD)
        await practitioner.click("#login-form button[type=submit]")
        await practitioner.wait_for_selector("#cases-view:not([hidden])")
        await practitioner.goto(f"{url}/review/{self.session_id}")
        await family.goto(self.family_link)
        await family.click("#start")
        await observer.goto(f"{url}/f/{self.observer_token}")
        await observer.click("#start")
        for page in (family, observer):  # confirm the consent asked at the start of the call
            try:
                await page.click("#consent-agree", timeout=5000)
            except Exception:
                pass
        shown = await self.shown_everywhere(self.firsts[0], 0, timeout_s=30)
        missing = [role for role, seen in shown.items() if seen is None]
        if missing:
            raise RuntimeError(f"the first frame never showed on {missing}")
        await self.refresh_ssrcs()

    async def refresh_ssrcs(self) -> None:
        assert self.app is not None
        self.ssrc_role = await clip_senders(self.app, self.session_id)
        self.log.watched = set(self.ssrc_role)

    async def close(self) -> None:
        runner = getattr(self, "runner", None)
        if runner is not None:
            await runner.cleanup()

    # one hold
    async def hold(self, kind: str, item: int, act: Callable[[], Any]) -> dict[str, Any]:
        """Do `act` (a click on the practitioner's page), then time the held frame everywhere."""
        await self.refresh_ssrcs()
        before = await self.stats()
        clicked = float(await act())
        match: dict[str, Any] = {"state": "paused"}
        if kind == "select":
            match["item"] = item
        state = await self.state_after(clicked, match)
        expected = self.firsts[item] + int(state["frame"])
        shown = await self.shown_everywhere(expected, clicked)
        after = await self.stats()
        return {
            "kind": kind,
            "frame": int(state["frame"]),
            "item": item,
            "clicked": clicked,
            "browsers": {
                role: self.breakdown(role, clicked, shown[role], before[role], after[role])
                for role in ROLES
            },
        }

    def breakdown(
        self, role: str, clicked_ms: float, shown: Any, before: Any, after: Any
    ) -> dict[str, Any]:
        """Where the time from the click to the held frame on this browser went (ms)."""
        clicked = clicked_ms / 1000
        out: dict[str, Any] = {"shown": shown is not None}
        command = self.log.after("command", clicked)
        start = self.log.after("encode-start", command[0]) if command else None
        end = self.log.after("encode-end", start[0]) if start else None
        publish = next(
            (
                (at, d)
                for at, k, d in self.log.events
                if k == "publish" and d["keyframe"] and end and at >= end[0]
            ),
            None,
        )
        ssrcs = [s for s, r in self.ssrc_role.items() if r == role]
        packets = [p for p in self.log.packets if p[1] in ssrcs and publish and p[0] >= publish[0]]
        markers = [p[0] for p in packets if p[2]]
        first_packet = packets[0][0] if packets else None
        out["keyframe_bytes"] = end[1].get("bytes") if end else None
        out["server"] = {
            "click_to_command": _ms(command[0] - clicked) if command else None,
            "command_to_encode": _ms(start[0] - command[0]) if start and command else None,
            "encode": _ms(end[0] - start[0]) if end and start else None,
            "encode_to_publish": _ms(publish[0] - end[0]) if publish and end else None,
            "publish_to_first_packet": _ms(first_packet - publish[0])
            if first_packet and publish
            else None,
            "first_to_last_packet": _ms(markers[0] - first_packet)
            if markers and first_packet
            else None,
            "packets": next((i + 1 for i, p in enumerate(packets) if p[2]), None),
        }
        if shown is not None:
            presented = float(shown["presented"]) / 1000
            received = shown.get("received")
            received_s = float(received) / 1000 if received is not None else None
            # The keyframe copy the browser showed: the last one sent before it arrived.
            sent = [m for m in markers if received_s is None or m <= received_s + 0.002]
            last_sent = sent[-1] if sent else None
            out["total"] = _ms(presented - clicked)
            out["within"] = out["total"] <= WITHIN_MS
            out["resend_shown"] = bool(markers and last_sent and last_sent - markers[0] > 0.1)
            out["network"] = _ms(received_s - last_sent) if received_s and last_sent else None
            out["browser"] = _ms(presented - received_s) if received_s else None
            out["sent_to_presented"] = _ms(presented - last_sent) if last_sent else None
            out["processing"] = shown.get("processing_ms")
            out["callbacks_skipped"] = int(shown.get("skipped") or 0)
        out["stats"] = stat_delta(before, after)
        return out

    # the scenario
    async def fps_at_1x(self, seconds: float) -> dict[str, Any]:
        """Play at 1× for a while: what each browser presents, against what the server sent."""
        played = await self.click("#play")
        await self.state_after(played, {"state": "playing"})
        await asyncio.sleep(1.2)  # past resuming (frames re-encoded until an original keyframe)
        start_ms = time.time() * 1000
        before = await self.stats()
        await asyncio.sleep(seconds)
        after = await self.stats()
        end_ms = time.time() * 1000
        published = [at for at, k, d in self.log.events if k == "publish" and start_ms / 1000 <= at]
        published = [at for at in published if at < end_ms / 1000]
        out: dict[str, Any] = {"seconds": round((end_ms - start_ms) / 1000, 2)}
        out["server_fps"] = round(len(published) / out["seconds"], 1)
        for role in ROLES:
            frames = await self.vig(
                role,
                "([a, b]) => window.__vig.shown.filter(f => f.presented >= a && f.presented < b)",
                [start_ms, end_ms],
            )
            numbers = [f["number"] for f in frames if f["number"] is not None]
            counted = [f["presented_frames"] for f in frames]
            gaps = [b["presented"] - a["presented"] for a, b in itertools.pairwise(frames)]
            out[role] = {
                "callbacks_fps": round(len(frames) / out["seconds"], 1),
                "presented_fps": round((counted[-1] - counted[0] + 1) / out["seconds"], 1)
                if counted
                else 0.0,
                "longest_gap_ms": round(max(gaps), 1) if gaps else None,
                "read_ms_median": _median([f["read_ms"] for f in frames]),
                "distinct_numbers": len(set(numbers)),
                "stats": stat_delta(before[role], after[role]),
            }
        return out

    async def clip_start(self, item: int, at_once: bool) -> dict[str, Any]:
        """Select a clip and play it (at once, or once its first frame shows everywhere): the
        first frames each browser then shows, as numbers in the clip (0 is its first)."""
        first = self.firsts[item]
        selected = await self.click(f"#{'next' if item else 'prev'}-item")
        out: dict[str, Any] = {"item": item, "play_at_once": at_once}
        # The page's play button plays only once the page knows the new clip is paused.
        await self.state_after(selected, {"state": "paused", "item": item})
        if not at_once:
            shown = await self.shown_everywhere(first, selected)
            out["select_ms"] = {
                role: _ms(float(seen["presented"]) / 1000 - selected / 1000) if seen else None
                for role, seen in shown.items()
            }
            await asyncio.sleep(0.3)
        played = await self.click("#play")
        await self.state_after(played, {"state": "playing", "item": item})
        await asyncio.sleep(1.5)
        for role in ROLES:
            frames = await self.vig(
                role, "a => window.__vig.shown.filter(f => f.presented >= a)", selected
            )
            numbers = [
                f["number"] - first
                for f in frames
                if f["number"] is not None and 0 <= f["number"] - first < self.lengths[item]
            ]
            # The new clip's frames from its first one on (the old clip's may still be shown
            # just after the click).
            since = numbers.index(0) if 0 in numbers else len(numbers)
            moving = [n for n in numbers[since:] if n > 0]
            out[role] = {
                "clip_first_frame_shown": 0 in numbers,
                "first_moving": moving[0] if moving else None,
                "skipped": (moving[0] - 1) if moving else None,
                "numbers": numbers[:15],
                "presented_1_5s": len([f for f in frames if f["presented"] >= played]),
            }
        return out

    async def scenario(self, holds: int, fps_seconds: float, starts: int) -> dict[str, Any]:
        out: dict[str, Any] = {"holds": [], "starts": []}
        await self.click("#loop")  # a clip that ends mid-measurement would skew it
        out["fps"] = await self.fps_at_1x(fps_seconds)
        length = self.lengths[0]
        rnd = 0
        while len(out["holds"]) < holds:
            if rnd:
                await self.click("#play")
                await asyncio.sleep(0.6 + 0.1 * (rnd % 4))
            out["holds"].append(await self.hold("pause", 0, lambda: self.click("#play")))
            target = (47 + 61 * rnd) % (length - 5)
            out["holds"].append(await self.hold("seek", 0, functools.partial(self.scrub, target)))
            out["holds"].append(await self.hold("step", 0, lambda: self.click("#step-forward")))
            out["holds"].append(await self.hold("step", 0, lambda: self.click("#step-back")))
            rnd += 1
        for index in range(starts):
            item = 1 if index % 2 == 0 else 0
            out["starts"].append(await self.clip_start(item, at_once=index < starts // 2))
        if self.raw:
            out["raw"] = {
                role: await self.vig(role, "() => window.__vig.shown.slice(-3000)")
                for role in ROLES
            }
            out["raw_server"] = {
                "events": self.log.events[-2000:],
                "packets": self.log.packets[-20000:],
                "ssrc_role": {str(k): v for k, v in self.ssrc_role.items()},
            }
        out["server_rtcp"] = {
            role: {
                kind: sum(
                    1 for _, k, s in self.log.rtcp if k == kind and self.ssrc_role.get(s) == role
                )
                for kind in ("PLI", "NACK")
            }
            for role in ROLES
        }
        return out


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def stat_delta(before: Any, after: Any) -> dict[str, Any] | None:
    if not before or not after:
        return None
    delta = {k: round(after[k] - before.get(k, 0), 4) for k in STAT_FIELDS if k in after}
    emitted = delta.get("jitterBufferEmittedCount") or 0
    if emitted:
        delta["jitter_buffer_ms_per_frame"] = round(delta["jitterBufferDelay"] / emitted * 1000, 1)
        if "jitterBufferTargetDelay" in delta:
            target = delta["jitterBufferTargetDelay"] / emitted * 1000
            delta["jitter_buffer_target_ms"] = round(target, 1)
    decoded = delta.get("framesDecoded") or 0
    if decoded and "totalDecodeTime" in delta:
        delta["decode_ms_per_frame"] = round(delta["totalDecodeTime"] / decoded * 1000, 1)
    delta["jitterBufferTargetSetting"] = after.get("jitterBufferTargetSetting")
    return delta


# -- the report ----------------------------------------------------------------------------------
def spread(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median": round(statistics.median(ordered), 1),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 1),
        "max": round(ordered[-1], 1),
    }


def _median(values: list[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """Per browser: how many holds showed, how many within 150 ms, and the median of each step."""
    holds = result["holds"]
    out: dict[str, Any] = {}
    everyone: list[float] = []
    for role in ROLES:
        rows = [h["browsers"][role] for h in holds]
        totals = [float(r["total"]) for r in rows if r["shown"]]
        everyone += totals
        stats = [r["stats"] or {} for r in rows]
        out[role] = {
            "holds": len(rows),
            "shown": sum(1 for r in rows if r["shown"]),
            "within_150ms": sum(1 for t in totals if t <= WITHIN_MS),
            "total_ms": spread(totals),
            "median_ms": {
                "click_to_command": _median([r["server"]["click_to_command"] for r in rows]),
                "command_to_encode": _median([r["server"]["command_to_encode"] for r in rows]),
                "encode": _median([r["server"]["encode"] for r in rows]),
                "publish_to_first_packet": _median(
                    [r["server"]["publish_to_first_packet"] for r in rows]
                ),
                "first_to_last_packet": _median(
                    [r["server"]["first_to_last_packet"] for r in rows]
                ),
                "network": _median([r.get("network") for r in rows]),
                "browser": _median([r.get("browser") for r in rows]),
                "jitter_buffer_per_frame": _median(
                    [s.get("jitter_buffer_ms_per_frame") for s in stats]
                ),
            },
            "resend_shown": sum(1 for r in rows if r.get("resend_shown")),
            # rVFC skipped the callback of a frame presented just before: the held frame may
            # have been on screen earlier than `total` says (seen on a pause, ~1 in 60)
            "callback_skipped": sum(1 for r in rows if r.get("callbacks_skipped")),
            "keyframe_bytes": _median([r["keyframe_bytes"] for r in rows]),
            "packets": _median([r["server"]["packets"] for r in rows]),
            "nacks": sum(int(s.get("nackCount") or 0) for s in stats),
            "plis": sum(int(s.get("pliCount") or 0) for s in stats),
            "frames_dropped": sum(int(s.get("framesDropped") or 0) for s in stats),
            "freezes": sum(int(s.get("freezeCount") or 0) for s in stats),
        }
    out["all"] = {
        "pairs": len(everyone),
        "within_150ms": sum(1 for t in everyone if t <= WITHIN_MS),
        "total_ms": spread(everyone),
    }
    return out


def print_run(name: str, result: dict[str, Any]) -> None:
    summary = result["summary"]
    print(f"\n== {name}: {len(result['holds'])} holds, load {result['load']}")
    print(
        "ms, click to the held frame presented; medians of: click>srv (click to the server's"
        " handler), encode (decode + encode the held frame), send (its first to last packet),"
        " net (last packet sent to received), browser (received to presented), jb/fr"
        " (getStats jitterBufferDelay per frame); resend: a later copy was the one shown;"
        " skip: rVFC skipped the frame before it (it may have been shown earlier)"
    )
    print(
        f"{'browser':>12} {'shown':>5} {'<=150':>5} {'median':>6} {'p90':>6} {'max':>6} |"
        f" {'click>srv':>9} {'encode':>6} {'send':>5} {'net':>5} {'browser':>7} {'jb/fr':>6}"
        f" {'resend':>6} {'skip':>4} {'nack':>4} {'pli':>3}"
    )
    for role in ROLES:
        row = summary[role]
        t, m = row["total_ms"], row["median_ms"]
        print(
            f"{role:>12} {row['shown']:>5} {row['within_150ms']:>5} {t.get('median', '-'):>6}"
            f" {t.get('p90', '-'):>6} {t.get('max', '-'):>6} | {m['click_to_command']!s:>9}"
            f" {m['encode']!s:>6} {m['first_to_last_packet']!s:>5} {m['network']!s:>5}"
            f" {m['browser']!s:>7} {m['jitter_buffer_per_frame']!s:>6} {row['resend_shown']:>6}"
            f" {row['callback_skipped']:>4} {row['nacks']:>4} {row['plis']:>3}"
        )
    everyone = summary["all"]
    print(
        f"{'all':>12} {everyone['pairs']:>5} {everyone['within_150ms']:>5}"
        f" {everyone['total_ms'].get('median', '-'):>6} {everyone['total_ms'].get('p90', '-'):>6}"
        f" {everyone['total_ms'].get('max', '-'):>6}"
    )
    fps = result["fps"]
    print(f"at 1x over {fps['seconds']} s: server sent {fps['server_fps']} fps; browsers show:")
    for role in ROLES:
        row = fps[role]
        st = row["stats"] or {}
        print(
            f"{role:>12}: {row['presented_fps']:>5} fps presented "
            f"({row['callbacks_fps']} seen by rVFC, longest gap {row['longest_gap_ms']} ms), "
            f"{st.get('framesDecoded')} decoded, {st.get('framesDropped')} dropped, "
            f"jitter buffer {st.get('jitter_buffer_ms_per_frame')} ms/frame"
        )
    for start in result["starts"]:
        how = "play at once" if start["play_at_once"] else "play once shown"
        skipped = {role: start[role]["skipped"] for role in ROLES}
        print(f"clip {start['item']} start ({how}): frames skipped {skipped}")


async def one_run(
    work: Path,
    source: Vault,
    recording: Path,
    frames: int,
    baseline: bool,
    args: argparse.Namespace,
) -> dict[str, Any]:
    run = Run(work, source, recording, frames, baseline)
    run.raw = args.raw
    run.jitter_target = args.jitter_target
    busy0, total0 = machine_seconds()
    started = time.monotonic()
    try:
        with instrumented(run.log):
            url = await run.start_server()
            with fix_switched_off() if baseline else _nothing():
                async with launch_browser() as browser:
                    await run.join(browser, url)
                    result = await run.scenario(args.holds, args.fps_seconds, args.starts)
                    await browser.close()
    finally:
        await run.close()
    busy1, total1 = machine_seconds()
    result["summary"] = summarise(result)
    result["load"] = {
        "machine_busy_cores": round((busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1), 2),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.monotonic() - started, 1),
    }
    return result


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def fix_switched_off() -> Iterator[None]:
    """The server as it was before the fix: browsers' jitter buffers hold the clip's frames
    (no playout-delay extension), every hold decodes from its group's keyframe (no pictures
    kept), a held picture is encoded at quantizer 0 and up (twice the bytes), frames
    re-encoded while playing are as sharp as a hold, and playing on from a held keyframe
    re-encodes up to the next one."""
    from vigremote.media import peers
    from vigremote.review import clipmedia, video_out

    saved = [
        (peers, "CLIP_PLAYOUT_DELAY_MS", peers.CLIP_PLAYOUT_DELAY_MS),
        (clipmedia, "RECENT_PICTURES_BYTES", clipmedia.RECENT_PICTURES_BYTES),
        (clipmedia, "HOLD_QUANTIZERS", clipmedia.HOLD_QUANTIZERS),
        (clipmedia, "_playing_encoder", clipmedia._playing_encoder),
        (video_out.VideoOut, "resume_as_sent", video_out.VideoOut.resume_as_sent),
    ]
    peers.CLIP_PLAYOUT_DELAY_MS = None
    clipmedia.RECENT_PICTURES_BYTES = 0
    clipmedia.HOLD_QUANTIZERS = (0, 12)  # crf 0 then, where it was 4: the same sizes
    sharp = clipmedia._sharp_encoder
    clipmedia._playing_encoder = lambda codec, width, height, rate: sharp(codec, width, height)  # type: ignore[assignment]
    video_out.VideoOut.resume_as_sent = lambda self, held: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    width, height = (int(v) for v in args.size.split("x"))
    modes = ["baseline"] if args.baseline else ["fixed"] if args.fixed else ["baseline", "fixed"]
    report: dict[str, Any] = {"runs": [], "size": args.size, "within_ms": WITHIN_MS}
    with tempfile.TemporaryDirectory(prefix="vig-bench-holds-") as tmp:
        work = Path(tmp)
        # Sealed in a scratch vault of its own, read back only here: seed_data seals it again
        # into each run's data folder with that folder's keys.
        source, folder = standalone_vault(work / "scratch")
        recording = folder / "recording.webm"
        frames = 360
        make_recording(
            source, recording, frames=frames, fps=FPS, keyframe_every=60, width=width, height=height
        )
        for attempt in range(args.runs):
            for mode in modes:
                print(f"run {attempt + 1}: {mode}…", flush=True)
                result = await one_run(
                    work / f"{mode}-{attempt}", source, recording, frames, mode == "baseline", args
                )
                result["mode"] = mode
                report["runs"].append(result)
                print_run(f"{mode} (run {attempt + 1})", result)
    report["versions"] = versions()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holds", type=int, default=20, help="holds per run (20, at least 16)")
    parser.add_argument("--fps-seconds", type=float, default=4.0, help="1x window (4 s)")
    parser.add_argument("--starts", type=int, default=4, help="clip starts per run (4)")
    parser.add_argument("--size", default="640x480", help="recording size (640x480)")
    parser.add_argument("--runs", type=int, default=1, help="repeat baseline+fixed (1)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--baseline", action="store_true", help="only the code without the fix")
    group.add_argument("--fixed", action="store_true", help="only the fixed code")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--raw", action="store_true", help="keep every frame seen in the JSON")
    parser.add_argument(
        "--jitter-target",
        type=float,
        help="set RTCRtpReceiver.jitterBufferTarget (ms) on the pages' video (an experiment)",
    )
    args = parser.parse_args()
    report = asyncio.run(bench(args))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
