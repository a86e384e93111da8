"""Shared steps for recording tests: a simulated family and practitioner in one session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.conftest import RunningServer
from tests.support.paced_rtp import RtpPacer
from tests.support.publisher import EncodedMedia, SimulatedFamily, encode_media
from vigremote.paths import recording_dir
from vigremote.state import CONSENT_WORDING, RECORDINGS


@cache
def media() -> EncodedMedia:
    return encode_media(frames=90, fps=30, width=320, height=240, gop=30)


@dataclass
class Call:
    server: RunningServer
    session: dict[str, Any]
    family: SimulatedFamily
    practitioner: SimulatedFamily

    async def consent(self, purposes: list[str]) -> dict[str, Any]:
        version = self.server.app[CONSENT_WORDING]["version"]
        await self.practitioner.wait_for("consent")  # the one sent at join comes first
        seen = len([m for m in self.practitioner.messages if m["type"] == "consent"])
        await self.family.send({"type": "consent", "version": version, "purposes": purposes})
        return await self.practitioner.wait_for("consent", after=seen)

    async def record(self, who: SimulatedFamily, action: str) -> dict[str, Any]:
        """Send a record command; returns the next recording status or error it caused."""
        before = len(who.messages)
        await who.send({"type": "record", "action": action})
        deadline_msgs = await who.wait_for_any(("recording", "error"), after_index=before)
        return deadline_msgs

    def files(self, recording_id: str) -> list[Path]:
        store = self.server.app[RECORDINGS]
        recording = store.get(recording_id)
        folder = recording_dir(self.server.config.data_dir, recording.case_id, recording_id)
        return [folder / name for name in store.segments(recording_id)]


@asynccontextmanager
async def call(
    server: RunningServer, family_media: EncodedMedia | None = None, pacer: RtpPacer | None = None
) -> AsyncIterator[Call]:
    owner = server.add_user("alice")
    session = server.new_session(owner)
    family = SimulatedFamily(server.ws_url, session["token"], family_media or media(), pacer=pacer)
    practitioner = SimulatedFamily(
        server.ws_url, server.practitioner_token(session["session"]["id"], owner)
    )
    await practitioner.join(with_media=False)
    await family.join()
    try:
        yield Call(server, session, family, practitioner)
    finally:
        await family.close()
        await practitioner.close()
