"""One RTCPeerConnection per browser, with the server as the only peer.

The browser always offers, one m-line per slot of the session's layout (a filming session:
camera audio and video; a shared review adds the clip's audio and video); the server answers.
aiortc has no ICE restart, so a browser that loses its connection sends a brand-new offer and
gets a brand-new Peer; the Feeds it publishes to and reads from stay the same.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

from vigremote.config import IceServer
from vigremote.media import aiortc_compat, passthrough
from vigremote.media.candidates import CandidateBudget, CandidateRefused, filter_offer, screen
from vigremote.media.feeds import ForwardTrack

log = logging.getLogger(__name__)

_SDP_LINE = re.compile(r"^[a-z]=[\x20-\x7e\t]*$")
_EXTMAP = re.compile(r"^a=extmap:(\d+)(?:/\w+)? (\S+)", re.MULTILINE)
# The clip's pictures are shown as soon as they are decoded (RTP "playout-delay" 0, 0): a held
# frame is a single frame, and a browser's jitter buffer would otherwise keep it for as long as
# its estimate says (measured up to 270 ms on a busy machine: bench/review_holds.py). None: off.
CLIP_PLAYOUT_DELAY_MS: tuple[int, int] | None = (0, 0)


class BadOffer(ValueError):
    """The browser's offer or candidate cannot be used; the message says why, for a person."""


def check_offer(
    sdp: object, max_lines: int, max_bytes: int, kinds: Sequence[str] = ("audio", "video")
) -> str:
    """Refuse an SDP before aiortc sees it: wrong type, too big, not SDP, or no usable media.

    `kinds` are the session's slots: the offer may not carry more of a kind than there are.
    """
    if not isinstance(sdp, str) or not sdp:
        raise BadOffer("the offer has no SDP text")
    if len(sdp) > max_bytes:
        raise BadOffer("the offer is too large")
    lines = sdp.replace("\r\n", "\n").rstrip("\n").split("\n")
    if len(lines) > max_lines:
        raise BadOffer(f"the offer has more than {max_lines} lines")
    if lines[0] != "v=0":
        raise BadOffer("the offer is not SDP (it must start with v=0)")
    for number, line in enumerate(lines, start=1):
        if not _SDP_LINE.match(line):
            raise BadOffer(f"line {number} of the offer is not an SDP line")
    offered_kinds = [line.split()[0][2:] for line in lines if line.startswith("m=")]
    if not offered_kinds or any(kind not in ("audio", "video") for kind in offered_kinds):
        raise BadOffer("the offer must contain only audio and video")
    offered, allowed = Counter(offered_kinds), Counter(kinds)
    if any(offered[kind] > allowed[kind] for kind in offered):
        most = f"{allowed['audio']} audio and {allowed['video']} video"
        raise BadOffer(f"this session takes at most {most} tracks")
    return "\r\n".join(lines) + "\r\n"


@dataclass
class Slot:
    """One m-line of the layout: what the server sends on it; whether the browser publishes."""

    name: str  # "camera" or "clip"
    kind: str  # "audio" or "video"
    outgoing: ForwardTrack | None = None
    publish: bool = True


@dataclass
class IncomingTrack:
    kind: str
    track: Any
    receiver: RTCRtpReceiver
    slot: str = "camera"

    async def request_keyframe(self) -> None:
        """Send a PLI to the publisher (aiortc only does so itself on decode errors)."""
        await aiortc_compat.send_pli(self.receiver)


def _clip_playout_delay(transceiver: Any, section: str) -> None:
    """Answer the offer's playout-delay extension on the clip's video, if the browser has it."""
    offered = {uri: int(number) for number, uri in _EXTMAP.findall(section)}
    number = offered.get(aiortc_compat.PLAYOUT_DELAY_URI)
    if CLIP_PLAYOUT_DELAY_MS is not None and number is not None and 0 < number < 256:
        aiortc_compat.send_playout_delay(transceiver, number, *CLIP_PLAYOUT_DELAY_MS)


def _codec_preferences(kind: str, video_codecs: tuple[str, ...]) -> list[Any]:
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    if kind == "audio":
        return [c for c in capabilities if c.name.lower() == "opus"]
    ordered: list[Any] = []
    for name in video_codecs:
        ordered += [c for c in capabilities if c.name.upper() == name.upper()]
    return ordered + [c for c in capabilities if c.name == "rtx"]


class Peer:
    """The server's side of one browser's connection."""

    def __init__(
        self,
        ice_servers: tuple[IceServer, ...],
        video_codecs: tuple[str, ...],
        on_state: Callable[[Peer, str], None],
    ) -> None:
        servers = [
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in ice_servers
        ]
        # max-bundle: with aiortc's default ("balanced"), a second transceiver of a kind made
        # before the offer keeps a transport of its own that never connects.
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self._video_codecs = video_codecs
        self._on_state = on_state
        self.outgoing: list[ForwardTrack] = []
        self.incoming: list[IncomingTrack] = []
        # Tracks the browser may send on slots it should only receive on: read and dropped.
        self.unused: list[IncomingTrack] = []
        self.video_codec: str | None = None
        self._candidates = CandidateBudget()
        self._drains: list[asyncio.Task[None]] = []

        @self.pc.on("connectionstatechange")
        def _changed() -> None:
            self._on_state(self, self.pc.connectionState)

    @property
    def state(self) -> str:
        return str(self.pc.connectionState)

    async def answer(self, offer_sdp: str, slots: list[Slot]) -> str:
        """Apply a checked offer, attach what this browser should receive, return the answer.

        The offer's m-lines take the slots of their kind in order. The peer owns every outgoing
        track from here on: those no m-line took are stopped at once, and close() stops the
        rest, so a refused offer leaves nothing subscribed to the room's feeds.
        """
        self.outgoing = [s.outgoing for s in slots if s.outgoing is not None]
        attached: list[ForwardTrack] = []
        try:
            offer_sdp, dropped = filter_offer(offer_sdp, self._candidates.limit)
            if dropped:
                log.info("dropped %d candidates of an offer (not probed)", dropped)
            sections = offer_sdp.split("\r\nm=")[1:]
            if any("\r\na=mid:" not in "\r\n" + section for section in sections):
                # Browsers always name their m-lines; the slots are matched to them by mid.
                raise BadOffer("the offer could not be used: an m-line has no a=mid")
            free = list(slots)
            taken: list[Slot] = []
            for kind in [
                line[2:].split()[0] for line in offer_sdp.split("\r\n") if line[:2] == "m="
            ]:
                slot = next((s for s in free if s.kind == kind), None)
                if slot is None:
                    raise BadOffer(f"no {kind} slot left for this m-line")
                free.remove(slot)
                taken.append(slot)
                # One transceiver per slot, in order: aiortc matches m-lines to them the same way.
                transceiver = self.pc.addTransceiver(kind, direction="sendrecv")
                transceiver.setCodecPreferences(_codec_preferences(kind, self._video_codecs))
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            transceivers = [t for t in self.pc.getTransceivers() if t.mid is not None]
            for transceiver, slot, section in zip(transceivers, taken, sections, strict=False):
                if slot.name == "clip" and slot.kind == "video":
                    _clip_playout_delay(transceiver, section)
                track = slot.outgoing
                if track is not None:
                    transceiver.sender.replaceTrack(track)
                    # In aiortc's pack path a viewer's PLI is otherwise ignored: pass it upstream.
                    aiortc_compat.on_keyframe_request(transceiver.sender, track.request_keyframe)
                    attached.append(track)
                remote = transceiver.receiver.track
                if remote is not None:
                    passthrough.tap_on_loop(transceiver.receiver)
                    incoming = IncomingTrack(
                        transceiver.kind, remote, transceiver.receiver, slot.name
                    )
                    if slot.publish:
                        self.incoming.append(incoming)
                    else:
                        self.unused.append(incoming)
                codecs = aiortc_compat.negotiated_codecs(transceiver)
                if transceiver.kind == "video" and codecs:
                    self.video_codec = codecs[0].name
                    if track is not None:
                        track.codec = self.video_codec
            # aiortc fails here too on SDP it accepted above (no direction, a missing mid...).
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except BadOffer:
            raise
        except Exception as exc:  # aiortc raises many types for a bad SDP
            raise BadOffer(
                f"the offer could not be used: {str(exc) or type(exc).__name__}"
            ) from exc
        for track in self.outgoing:
            if track not in attached:
                track.stop()
        self.outgoing = attached
        for known in self._ice_transport().getRemoteCandidates():
            self._candidates.take(known)  # the offer's own candidates count too
        return str(self.pc.localDescription.sdp)

    def _ice_transport(self) -> Any:
        """The one ICE transport (max-bundle: the first m-line's, shared by all)."""
        return self.pc.getTransceivers()[0].receiver.transport.transport

    def _probed(self, candidate: RTCIceCandidate) -> bool:
        """Whether aiortc uses this candidate: with max-bundle only the first m-line has an
        ICE transport, and aiortc ignores the candidates of the others (a browser gathers for
        every m-line until it has the answer)."""
        first = self.pc.getTransceivers()[0]
        return candidate.sdpMid == first.mid or candidate.sdpMLineIndex == 0

    async def add_candidate(self, candidate: object) -> None:
        """Apply a trickled browser candidate; None (or {}) means end of candidates."""
        if (
            candidate is None
            or candidate == {}
            or (isinstance(candidate, dict) and not candidate.get("candidate"))
        ):
            await self.pc.addIceCandidate(None)
            return
        if not isinstance(candidate, dict) or not isinstance(candidate.get("candidate"), str):
            raise BadOffer("a candidate must be an object with a 'candidate' string")
        text = candidate["candidate"]
        if len(text) > 1024:
            raise BadOffer("the candidate is too long")
        try:
            parsed: RTCIceCandidate = candidate_from_sdp(text.split(":", 1)[-1])
        except Exception as exc:
            raise BadOffer("the candidate could not be parsed") from exc
        mid = candidate.get("sdpMid")
        index = candidate.get("sdpMLineIndex")
        parsed.sdpMid = mid if isinstance(mid, str) else None
        parsed.sdpMLineIndex = index if isinstance(index, int) else None
        if parsed.sdpMid is None and parsed.sdpMLineIndex is None:
            parsed.sdpMLineIndex = 0
        try:
            if not screen(parsed):
                return  # a TCP candidate: aiortc would never use it
        except CandidateRefused as exc:
            raise BadOffer(str(exc)) from None
        if not self._probed(parsed):
            return
        if not self._candidates.take(parsed):
            limit = self._candidates.limit
            raise BadOffer(f"too many candidates (at most {limit} for one connection)")
        try:
            await self.pc.addIceCandidate(parsed)
        except Exception as exc:
            raise BadOffer(f"the candidate was refused: {exc}") from exc

    def drain(self, track: Any) -> None:
        """Read and drop a track nobody watches, until close() (an unread aiortc track grows
        without bound)."""
        self._drains.append(asyncio.create_task(_drain(track), name="peer-drain"))

    async def close(self) -> None:
        for track in self.outgoing:
            track.stop()
        try:
            await asyncio.wait_for(self.pc.close(), timeout=5)
        except (TimeoutError, Exception) as exc:  # closing must never take the room down
            log.warning("closing a peer connection failed: %r", exc)
        drains, self._drains = self._drains, []
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)


async def _drain(track: Any) -> None:
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        return  # the connection closed
    except Exception:
        log.exception("draining an unwatched track failed")
