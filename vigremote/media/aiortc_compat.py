"""Every use of aiortc's private names, in one place, checked when it is imported.

aiortc (pinned in pyproject.toml) has no public API for three things the media path needs:
- received encoded frames (aiortc#984): we replace the module-level `get_decoder` that each
  receiver's decoder thread calls, so a "decoder" can hand the encoded frame on unchanged;
- asking a publisher for a keyframe: `RTCRtpReceiver._send_rtcp_pli` sends the RTCP PLI;
- hearing a viewer's keyframe request: `RTCRtpSender._handle_rtcp_packet` calls the instance's
  `_send_keyframe()` on a PLI or FIR, which aiortc ignores when it sends packets as they are;
  we give each sender its own `_send_keyframe` that passes the request upstream.
It also reads the negotiated codecs (`RTCRtpTransceiver._codecs`).

A newer aiortc may rename any of these, and the failure would be silent (viewers wait for a
keyframe forever, or the server starts decoding video). So `check()` runs at import and
raises `AiortcIncompatible`, naming the installed and the pinned version, when something
relied on is missing or changed shape. Nothing else in vigremote may touch aiortc internals.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import aiortc
import aiortc.jitterbuffer as _jitterbuffer
import aiortc.rtcrtpreceiver as _receiver_module
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver

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
    if not _uses(worker, "get_decoder") or not _uses(worker, "decode"):
        found.append(
            "aiortc.rtcrtpreceiver.decoder_worker no longer calls get_decoder(codec).decode()"
        )
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


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> Sequence[Any]:
    """The transceiver's codecs after negotiation, preferred first (RTCRtpCodecParameters)."""
    codecs: Sequence[Any] = transceiver._codecs
    return codecs


check()
