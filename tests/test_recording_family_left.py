"""A family that leaves (or drops) while recording: the recording says so, once."""

from __future__ import annotations

import asyncio

from tests.conftest import RunningServer
from tests.recording_helpers import call, media
from tests.support.publisher import SimulatedFamily
from vigremote.state import RECORDINGS


async def test_leaving_and_coming_back_is_marked_once(server: RunningServer) -> None:
    async with call(server) as c:
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        await asyncio.sleep(1.5)
        await c.family.close()  # the phone's browser is closed: socket and media gone
        await asyncio.sleep(2.0)
        back = SimulatedFamily(server.ws_url, c.session["token"], media())
        await back.join()
        try:
            await asyncio.sleep(2.0)
            await c.record(c.practitioner, "stop")
        finally:
            await back.close()
        marks = server.app[RECORDINGS].marks(started["recording_id"])
        gaps = [(m["kind"], m["note"]) for m in marks if m["kind"].startswith("gap")]
        assert gaps == [
            ("gap-start", "family left the call"),
            ("gap-end", "family is back in the call"),
        ]
        start, end = (m["t_s"] for m in marks if m["kind"].startswith("gap"))
        assert 1.2 < start < 2.5 and 1.5 < end - start < 3.5


async def test_leaving_for_good_is_marked(server: RunningServer) -> None:
    async with call(server) as c:
        await c.consent(["analysis"])
        started = await c.record(c.practitioner, "start")
        await asyncio.sleep(1.0)
        await c.family.close()
        await asyncio.sleep(0.5)
        await c.record(c.practitioner, "stop")
        marks = server.app[RECORDINGS].marks(started["recording_id"])
        assert [(m["kind"], m["note"]) for m in marks] == [("gap-start", "family left the call")]
