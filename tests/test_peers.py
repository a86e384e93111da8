"""check_offer and Peer: what reaches aiortc, and what a bad offer leaves behind (nothing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.publisher import aiortc_offer
from vigremote.media.feeds import Feed
from vigremote.media.peers import BadOffer, Peer, Slot, check_offer

MAX_LINES = 1000
MAX_BYTES = 64 * 1024


def lines_of(sdp: str) -> list[str]:
    return sdp.replace("\r\n", "\n").rstrip("\n").split("\n")


def sdp_of(lines: list[str]) -> str:
    return "\r\n".join(lines) + "\r\n"


async def test_a_real_aiortc_offer_is_accepted_and_normalised_to_crlf() -> None:
    offer = await aiortc_offer()
    assert check_offer(offer, MAX_LINES, MAX_BYTES) == offer
    # A browser that sends bare LF line ends gets the same SDP with CRLF.
    lf_only = offer.replace("\r\n", "\n")
    assert check_offer(lf_only, MAX_LINES, MAX_BYTES) == offer


async def test_an_offer_with_only_video_is_accepted() -> None:
    offer = await aiortc_offer(("video",))
    assert check_offer(offer, MAX_LINES, MAX_BYTES) == offer


@pytest.mark.parametrize("sdp", [None, "", 42, b"v=0\r\n", ["v=0"], {"sdp": "v=0"}])
def test_an_offer_that_is_not_text_is_refused(sdp: object) -> None:
    with pytest.raises(BadOffer, match="no SDP text"):
        check_offer(sdp, MAX_LINES, MAX_BYTES)


def test_too_many_lines_are_refused_before_anything_is_parsed() -> None:
    sdp = "v=0\n" + "a=x\n" * MAX_LINES
    with pytest.raises(BadOffer, match=f"more than {MAX_LINES} lines"):
        check_offer(sdp, MAX_LINES, MAX_BYTES)
    # One line fewer passes the line count (and fails later, for having no media).
    with pytest.raises(BadOffer, match="only audio and video"):
        check_offer("v=0\n" + "a=x\n" * (MAX_LINES - 1), MAX_LINES, MAX_BYTES)


def test_too_many_bytes_are_refused() -> None:
    sdp = "v=0\r\na=" + "x" * MAX_BYTES + "\r\n"
    with pytest.raises(BadOffer, match="too large"):
        check_offer(sdp, MAX_LINES, MAX_BYTES)


@pytest.mark.parametrize(
    "first",
    ["v=1", "V=0", " v=0", "o=- 1 1 IN IP4 0.0.0.0", "hello", "\ufeffv=0", "v=0 "],
)
async def test_an_offer_not_starting_with_v0_is_refused(first: str) -> None:
    lines = lines_of(await aiortc_offer())
    lines[0] = first
    with pytest.raises(BadOffer, match="must start with v=0"):
        check_offer(sdp_of(lines), MAX_LINES, MAX_BYTES)


@pytest.mark.parametrize(
    "bad_line",
    [
        "hello world",
        "A=upper-case type",
        "a=nul\x00byte",
        "a=tab\x0bvertical",
        "a=bell\x07",
        "a=carriage\rreturn",
        "a=non-ascii-é",
        "",
        "=no type",
        "ab=two letters",
    ],
)
async def test_a_line_that_is_not_sdp_is_refused_with_its_number(bad_line: str) -> None:
    lines = lines_of(await aiortc_offer())
    lines.insert(3, bad_line)
    with pytest.raises(BadOffer, match="line 4 of the offer is not an SDP line"):
        check_offer(sdp_of(lines), MAX_LINES, MAX_BYTES)


def test_datachannel_only_offer_is_refused() -> None:
    sdp = sdp_of(
        [
            "v=0",
            "o=- 1 1 IN IP4 0.0.0.0",
            "s=-",
            "t=0 0",
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "c=IN IP4 0.0.0.0",
            "a=mid:0",
            "a=sctp-port:5000",
        ]
    )
    with pytest.raises(BadOffer, match="only audio and video"):
        check_offer(sdp, MAX_LINES, MAX_BYTES)


async def test_audio_video_plus_application_is_refused() -> None:
    lines = lines_of(await aiortc_offer())
    lines += ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "a=mid:2"]
    with pytest.raises(BadOffer, match="only audio and video"):
        check_offer(sdp_of(lines), MAX_LINES, MAX_BYTES)


def test_an_offer_without_media_is_refused() -> None:
    with pytest.raises(BadOffer, match="only audio and video"):
        check_offer("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", MAX_LINES, MAX_BYTES)


@pytest.mark.parametrize("kinds", [("video", "video"), ("audio", "audio"), ("audio", "video") * 2])
async def test_more_than_one_track_of_a_kind_is_refused(kinds: tuple[str, ...]) -> None:
    offer = await aiortc_offer(kinds)
    with pytest.raises(BadOffer, match="at most 1 audio and 1 video"):
        check_offer(offer, MAX_LINES, MAX_BYTES)


def slots_for(outgoing: dict[str, Any]) -> list[Slot]:
    """The filming layout: camera audio and video, each sending what `outgoing` gives."""
    return [Slot("camera", kind, outgoing.get(kind)) for kind in ("audio", "video")]


# Offers that pass check_offer (every line looks like SDP) but that aiortc cannot use. Each must
# be refused as a BadOffer, never escape as another exception (which would kill the socket).
def _drop(prefix: str, which: int = 0) -> object:
    def edit(lines: list[str]) -> list[str]:
        hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        return lines[: hits[which]] + lines[hits[which] + 1 :]

    return edit


UNUSABLE_OFFERS = {
    "no-rtpmap": lambda lines: [line for line in lines if not line.startswith("a=rtpmap")],
    "no-ice-credentials": lambda lines: [line for line in lines if not line.startswith("a=ice-")],
    "no-setup": lambda lines: [line for line in lines if not line.startswith("a=setup")],
    "no-rtcp-mux": lambda lines: [line for line in lines if line != "a=rtcp-mux"],
    "no-direction": _drop("a=sendrecv"),
    "no-mid": _drop("a=mid:"),
    "video-m-line-dropped": _drop("m=video"),
}


@pytest.mark.parametrize("name", sorted(UNUSABLE_OFFERS))
async def test_an_unusable_offer_is_a_bad_offer_and_the_peer_still_closes(name: str) -> None:
    offer = await aiortc_offer()
    edited = sdp_of(UNUSABLE_OFFERS[name](lines_of(offer)))  # type: ignore[operator]
    sdp = check_offer(edited, MAX_LINES, MAX_BYTES)  # it looks like SDP...
    feed = Feed("video", "test/family/video")
    outgoing = {"video": feed.subscribe(), "audio": Feed("audio", "test/family/audio").subscribe()}
    peer = Peer((), ("VP8", "H264"), lambda peer, state: None)
    with pytest.raises(BadOffer, match="could not be used"):
        await peer.answer(sdp, slots_for(outgoing))
    await asyncio.wait_for(peer.close(), 6)
    # ...and closing the refused peer hangs up every track it was given: nothing is left
    # subscribed to the feeds.
    assert feed._sinks == []
    assert all(track.readyState == "ended" for track in outgoing.values())


async def test_a_valid_offer_gets_an_answer_with_the_server_codec() -> None:
    offer = await aiortc_offer()
    video, audio = Feed("video", "t/v"), Feed("audio", "t/a")
    outgoing = {"video": video.subscribe(), "audio": audio.subscribe()}
    peer = Peer((), ("VP8", "H264"), lambda peer, state: None)
    try:
        answer = await peer.answer(check_offer(offer, MAX_LINES, MAX_BYTES), slots_for(outgoing))
        assert answer.startswith("v=0\r\n")
        assert "a=rtpmap:97 VP8/90000" in answer
        assert peer.video_codec == "VP8"
        assert sorted(i.kind for i in peer.incoming) == ["audio", "video"]
        assert sorted(t.kind for t in peer.outgoing) == ["audio", "video"]
    finally:
        await peer.close()
    assert video._sinks == [] and audio._sinks == []


async def test_a_video_only_offer_leaves_no_unused_audio_track_subscribed() -> None:
    offer = await aiortc_offer(("video",))
    video, audio = Feed("video", "t/v"), Feed("audio", "t/a")
    outgoing = {"video": video.subscribe(), "audio": audio.subscribe()}
    peer = Peer((), ("VP8", "H264"), lambda peer, state: None)
    try:
        await peer.answer(check_offer(offer, MAX_LINES, MAX_BYTES), slots_for(outgoing))
        # No audio m-line, so nothing sends the audio track: it must not stay on the feed.
        assert audio._sinks == []
        assert len(video._sinks) == 1
    finally:
        await peer.close()
    assert video._sinks == []


class _SilentTrack:
    """A remote track nobody watches: frames come when the test says, and it never ends."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.cancelled = asyncio.Event()

    async def recv(self) -> object:
        try:
            return await self.queue.get()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def test_the_peer_drains_unwatched_tracks_and_close_ends_the_draining() -> None:
    peer = Peer((), ("VP8", "H264"), lambda peer, state: None)
    track = _SilentTrack()
    peer.drain(track)
    for number in range(5):
        track.queue.put_nowait(number)
    for _ in range(20):
        if track.queue.empty():
            break
        await asyncio.sleep(0)
    assert track.queue.empty(), "the unwatched track was not read"
    await asyncio.wait_for(peer.close(), 6)
    # The drain was cancelled and awaited by close(), not left running after it.
    assert track.cancelled.is_set()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "peer-drain"]
