"""Every use of aiortc's private names, in one place, checked when it is imported.

aiortc (pinned in pyproject.toml) has no public API for three things the media path needs:
- received encoded frames (aiortc#984): we replace the module-level `get_decoder` that each
  receiver's decoder thread calls, so a "decoder" can hand the encoded frame on unchanged;
  and, on the server's own receivers, the queue to that thread
  (`RTCRtpReceiver.__decoder_queue`), so each frame goes from the jitter buffer to the
  track's queue (`RemoteStreamTrack._queue`) on the event loop, not through a thread;
- asking a publisher for a keyframe: `RTCRtpReceiver._send_rtcp_pli` sends the RTCP PLI;
- hearing a viewer's keyframe request: `RTCRtpSender._handle_rtcp_packet` calls the instance's
  `_send_keyframe()` on a PLI or FIR, which aiortc ignores when it sends packets as they are;
  we give each sender its own `_send_keyframe` that passes the request upstream.
It also reads the negotiated codecs (`RTCRtpTransceiver._codecs`), and adds one RTP header
extension aiortc lacks, "playout-delay" (Chrome and Safari offer it): a transceiver's answer
lists it (`RTCRtpTransceiver._headerExtensions`) and its sender writes it on every packet (the
sender's private `__rtp_header_extensions_map`, replaced by a subclass before it starts).

A newer aiortc may rename any of these, and the failure would be silent (viewers wait for a
keyframe forever, or the server starts decoding video). So `check()` runs at import and
raises `AiortcIncompatible`, naming the installed and the pinned version, when something
relied on is missing or changed shape. Nothing else in vigremote may touch aiortc internals.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import aiortc
import aiortc.jitterbuffer as _jitterbuffer
import aiortc.rtcrtpreceiver as _receiver_module
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc import rtp as _rtp
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters

log = logging.getLogger(__name__)

AIORTC_PINNED = "1.16.0"

DecoderFactory = Callable[[Any], Any]


class AiortcIncompatible(ImportError):
    """The installed aiortc lacks something the media path relies on."""


def _params(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def _uses(function: object, name: str) -> bool:
    """True if `function`'s own code refers to `name` (a global or an attribute)."""
    code = getattr(function, "__code__", None)
    return code is not None and name in code.co_names


def problems() -> list[str]:
    """What the installed aiortc lacks, one sentence each (empty when all is there)."""
    found: list[str] = []
    get_decoder = getattr(_receiver_module, "get_decoder", None)
    if not callable(get_decoder) or len(_params(get_decoder)) != 1:
        found.append("aiortc.rtcrtpreceiver.get_decoder(codec) is missing or changed")
    worker = getattr(_receiver_module, "decoder_worker", None)
    if not all(_uses(worker, name) for name in ("get", "get_decoder", "decode")):
        found.append(
            "aiortc.rtcrtpreceiver.decoder_worker no longer reads its queue with get() and "
            "calls get_decoder(codec).decode()"
        )
    found += _decoder_queue_problems()
    frame = getattr(_jitterbuffer, "JitterFrame", None)
    if frame is None or _params(frame)[:2] != ["data", "timestamp"]:
        found.append("aiortc.jitterbuffer.JitterFrame(data, timestamp) is missing or changed")
    pli = getattr(RTCRtpReceiver, "_send_rtcp_pli", None)
    if not inspect.iscoroutinefunction(pli) or _params(pli) != ["self", "media_ssrc"]:
        found.append("RTCRtpReceiver._send_rtcp_pli(media_ssrc) is missing or changed")
    keyframe = getattr(RTCRtpSender, "_send_keyframe", None)
    if not callable(keyframe) or _params(keyframe) != ["self"]:
        found.append("RTCRtpSender._send_keyframe() is missing or changed")
    if not _uses(getattr(RTCRtpSender, "_handle_rtcp_packet", None), "_send_keyframe"):
        found.append("RTCRtpSender._handle_rtcp_packet no longer calls self._send_keyframe()")
    if not _uses(RTCRtpTransceiver.__init__, "_codecs"):
        found.append("RTCRtpTransceiver no longer keeps its negotiated codecs in _codecs")
    found += _playout_delay_problems()
    return found


def _decoder_queue_problems() -> list[str]:
    """What `decode_on_loop` relies on: the receiver's queue to its decoder thread, fed on the
    loop and ended with None (the thread reads it with get(): checked with get_decoder); the
    track's asyncio queue."""
    found: list[str] = []
    stop = getattr(RTCRtpReceiver, "_RTCRtpReceiver__stop_decoder", None)
    if not all(
        _uses(function, _DECODER_QUEUE) and _uses(function, name)
        for function, name in (
            (RTCRtpReceiver.__init__, "Queue"),
            (RTCRtpReceiver._handle_rtp_packet, "put"),
            (stop, "put"),
            (RTCRtpReceiver.receive, "_queue"),
        )
    ):
        found.append("RTCRtpReceiver no longer feeds its decoder thread through __decoder_queue")
    track = getattr(_receiver_module, "RemoteStreamTrack", None)
    if track is None or not (_uses(track.__init__, "_queue") and _uses(track.recv, "_queue")):
        found.append("aiortc's RemoteStreamTrack no longer yields from its _queue")
    return found


def _playout_delay_problems() -> list[str]:
    found: list[str] = []
    answer_rtp = getattr(RTCPeerConnection, "_RTCPeerConnection__localRtp", None)
    if not _uses(RTCPeerConnection.setRemoteDescription, "_headerExtensions") or not _uses(
        answer_rtp, "_headerExtensions"
    ):
        found.append("RTCRtpTransceiver._headerExtensions no longer feeds the answer's extmap")
    if not all(
        _uses(function, _SENDER_MAP)
        for function in (RTCRtpSender.__init__, RTCRtpSender.send, RTCRtpSender._run_rtp)
    ):
        found.append(f"RTCRtpSender no longer serializes packets with self.{_SENDER_MAP}")
    header_map = getattr(_rtp, "HeaderExtensionsMap", None)
    if header_map is None or _params(header_map.set) != ["self", "values"]:
        found.append("aiortc.rtp.HeaderExtensionsMap.set(values) is missing or changed")
    if not callable(getattr(_rtp, "pack_header_extensions", None)) or not callable(
        getattr(_rtp, "unpack_header_extensions", None)
    ):
        found.append("aiortc.rtp.(un)pack_header_extensions is missing")
    return found


def check() -> None:
    """Raise AiortcIncompatible if the installed aiortc lacks what the media path relies on."""
    found = problems()
    if found:
        raise AiortcIncompatible(
            f"vigremote's media path relies on aiortc {AIORTC_PINNED} internals, but the "
            f"installed aiortc {aiortc.__version__} differs: "
            + "; ".join(found)
            + f". Install aiortc=={AIORTC_PINNED} (see pyproject.toml)."
        )


# -- the encoded-frame tap ------------------------------------------------------------------
def set_decoder_factory(factory: DecoderFactory) -> None:
    """Make every receiver's decoder thread (in this process) use `factory(codec)`.

    The factory's object gets `decode(encoded_frame)` with a JitterFrame (`.data`,
    `.timestamp`) and returns what the remote track yields.
    """
    setattr(_receiver_module, "get_decoder", factory)  # noqa: B010


def decoder_factory() -> DecoderFactory:
    """The factory receivers use now (aiortc's own unless set_decoder_factory was called)."""
    factory: DecoderFactory = getattr(_receiver_module, "get_decoder")  # noqa: B009
    return factory


_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"


class _FramesOnLoop:
    """Stands in for a receiver's queue to its decoder thread. aiortc puts each complete frame
    there, on the event loop; here it is "decoded" at once by a decoder that only repackages
    (the encoded-frame tap) and put straight on the track's queue, so no frame crosses threads.
    The thread aiortc still starts waits in `get()` until the receiver stops, then ends the
    track as it always does."""

    def __init__(self, factory: DecoderFactory, track_queue: asyncio.Queue[Any]) -> None:
        self._factory = factory
        self._track_queue = track_queue
        self._decoders: dict[str, Any] = {}
        self._ended = threading.Event()
        self._failures = 0

    def put(self, item: tuple[Any, Any] | None) -> None:
        if item is None:  # the receiver stops
            self._ended.set()
            return
        codec, encoded_frame = item
        try:
            decoder = self._decoders.get(codec.name)
            if decoder is None:
                decoder = self._decoders[codec.name] = self._factory(codec)
            for frame in decoder.decode(encoded_frame):
                self._track_queue.put_nowait(frame)
        except Exception:  # never into aiortc's receive loop: drop the frame, as it would
            self._failures += 1
            if self._failures == 1:  # once, not 30 times a second
                log.exception("a received %s frame could not be handed on", codec.name)

    def get(self, *args: Any, **kwargs: Any) -> None:
        self._ended.wait()


def decode_on_loop(receiver: RTCRtpReceiver, factory: DecoderFactory) -> None:
    """Hand `receiver`'s frames to `factory(codec).decode()` on the event loop instead of in
    its decoder thread: for decoders that do not decode (the encoded-frame tap), where the
    thread hop costs more than the work. Call between setRemoteDescription (which gives the
    receiver its track) and the connection's start."""
    if getattr(receiver, "_RTCRtpReceiver__decoder_thread", None) is not None:
        raise RuntimeError("the receiver has started: its frames already go to its thread")
    track: Any = receiver.track
    if track is None:
        raise RuntimeError("the receiver has no track yet: call after setRemoteDescription")
    setattr(receiver, _DECODER_QUEUE, _FramesOnLoop(factory, track._queue))


# -- keyframe requests ------------------------------------------------------------------------
async def send_pli(receiver: RTCRtpReceiver) -> int:
    """Ask the sender of what `receiver` gets for a keyframe; returns how many PLIs went out.

    One PLI per SSRC heard in the last 10 s (none before the first RTP packet arrives).
    """
    sources = receiver.getSynchronizationSources()
    for source in sources:
        await receiver._send_rtcp_pli(source.source)
    return len(sources)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback` when the remote side of `sender` asks for a keyframe (PLI or FIR)."""
    setattr(sender, "_send_keyframe", callback)  # noqa: B010


# -- playout delay ----------------------------------------------------------------------------
PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
_SENDER_MAP = "_RTCRtpSender__rtp_header_extensions_map"


class _PlayoutDelayMap(_rtp.HeaderExtensionsMap):
    """aiortc's header-extension map, writing the playout-delay extension on every packet."""

    def __init__(self, value: bytes) -> None:
        super().__init__()
        self._value = value
        self._id: int | None = None

    def configure(self, parameters: Any) -> None:
        super().configure(parameters)
        self._id = next(
            (x.id for x in parameters.headerExtensions if x.uri == PLAYOUT_DELAY_URI), None
        )

    def set(self, values: Any) -> tuple[int, bytes]:
        profile, data = super().set(values)
        if self._id is None:
            return profile, data
        extensions = _rtp.unpack_header_extensions(profile, data) if data else []
        packed: tuple[int, bytes] = _rtp.pack_header_extensions(
            [*extensions, (self._id, self._value)]
        )
        return packed


def playout_delay_value(min_ms: int, max_ms: int) -> bytes:
    """The extension's 3 bytes: 12 bits each of minimum and maximum delay, in 10 ms units."""
    low, high = min_ms // 10, max_ms // 10
    if not 0 <= low <= high < 4096:
        raise ValueError("playout delay must be 0 <= min <= max < 40.96 s")
    return (low << 12 | high).to_bytes(3, "big")


def send_playout_delay(
    transceiver: RTCRtpTransceiver, extension_id: int, min_ms: int, max_ms: int
) -> None:
    """Tell the browser receiving on `transceiver` to keep each frame's playout delay within
    [min_ms, max_ms]; 0, 0 means "show every frame as soon as it is decoded". The browser
    offered the extension with `extension_id`. Call after setRemoteDescription and before
    createAnswer (the sender must not have started)."""
    value = playout_delay_value(min_ms, max_ms)
    transceiver._headerExtensions.append(
        RTCRtpHeaderExtensionParameters(id=extension_id, uri=PLAYOUT_DELAY_URI)
    )
    setattr(transceiver.sender, _SENDER_MAP, _PlayoutDelayMap(value))


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> Sequence[Any]:
    """The transceiver's codecs after negotiation, preferred first (RTCRtpCodecParameters)."""
    codecs: Sequence[Any] = transceiver._codecs
    return codecs


check()
