"""Which remote ICE candidates the server may probe.

Every remote candidate makes aiortc send STUN checks to its address and port: from the
server's own network. A candidate comes from whoever holds a family link, so without limits
anyone with a link could make the server probe its cloud's metadata service, link-local or
multicast addresses, or any number of hosts. A browser only ever offers its own unicast
addresses (or mDNS `.local` names that hide them), server-reflexive addresses and TURN relays,
on high ports, and a handful of them; anything else is refused.
"""

from __future__ import annotations

import ipaddress
import re

from aiortc import RTCIceCandidate
from aiortc.sdp import candidate_from_sdp

# A browser with several networks (Wi-Fi and mobile, IPv4 and IPv6) trickles about a dozen
# candidates per m-line; only the first m-line's are used (see Peer._probed).
MAX_REMOTE_CANDIDATES = 32
# Cloud instance metadata services (AWS, GCP, Azure, Oracle; AWS over IPv6; Alibaba).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_MDNS_NAME = re.compile(r"^[a-zA-Z0-9-]{1,63}\.local$")  # as aioice resolves them
_TYPES = ("host", "srflx", "prflx", "relay")
_LOWEST_PORT = 1024  # browsers and TURN servers use ephemeral ports


class CandidateRefused(ValueError):
    """A candidate the server will not probe; the message says why, for a person."""


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped or NAT64 IPv6 address really reaches."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: Address) -> str | None:
    """Why no browser would offer this address (None when it might)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_refusal(embedded)
    if address.is_loopback:
        return None  # the server's own host: tests, and a browser on the server itself
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK:
        return "a 'this network' address"
    if address.is_reserved:  # IPv4 240/4 with the broadcast address; unassigned IPv6
        return "a reserved or broadcast address"
    return None


def screen(candidate: RTCIceCandidate) -> bool:
    """True if aiortc may probe `candidate`; False to drop it quietly; CandidateRefused if no
    browser would send it.

    TCP candidates are dropped: aiortc connects over UDP only, so it never probes them
    (browsers send `tcptype active` ones with the discard port 9).
    """
    if candidate.type not in _TYPES:
        raise CandidateRefused(f"the candidate type {candidate.type[:20]!r} is not known")
    host = candidate.ip
    if not _MDNS_NAME.match(host):
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise CandidateRefused(
                "the candidate's address is neither an IP address nor an mDNS name"
            ) from None
        reason = address_refusal(address)
        if reason is not None:
            raise CandidateRefused(f"the candidate's address is {reason}")
    protocol = candidate.protocol.lower()
    if protocol == "tcp":
        return False
    if protocol != "udp":
        raise CandidateRefused("a candidate must be udp or tcp")
    if not _LOWEST_PORT <= candidate.port <= 65535:
        raise CandidateRefused(f"the candidate's port must be between {_LOWEST_PORT} and 65535")
    return True


class CandidateBudget:
    """How many more remote addresses one connection may still have probed.

    The same address sent twice is probed once, so counted once.
    """

    def __init__(self, limit: int = MAX_REMOTE_CANDIDATES) -> None:
        self.limit = limit
        self._seen: set[tuple[str, int]] = set()

    @property
    def used(self) -> int:
        return len(self._seen)

    def take(self, candidate: RTCIceCandidate) -> bool:
        try:
            host = str(ipaddress.ip_address(candidate.ip))  # one spelling per IPv6 address
        except ValueError:
            host = candidate.ip.lower()  # an mDNS name
        key = (host, candidate.port)
        if key in self._seen:
            return True
        if len(self._seen) >= self.limit:
            return False
        self._seen.add(key)
        return True


def filter_offer(sdp: str, limit: int = MAX_REMOTE_CANDIDATES) -> tuple[str, int]:
    """The offer (CRLF lines) without the candidates the server must not probe, and with at
    most `limit` per m-line; and how many were dropped.

    An offer made after gathering carries its candidates inline: they are screened like
    trickled ones, but dropped rather than refused, so the rest of the offer still works.
    """
    kept: list[str] = []
    dropped = 0
    in_section = 0
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            in_section = 0
        if line.startswith("a=candidate:"):
            try:
                usable = screen(candidate_from_sdp(line[len("a=candidate:") :]))
            except Exception:  # CandidateRefused, or not a candidate aiortc can parse
                usable = False
            in_section += usable
            if not usable or in_section > limit:
                dropped += 1
                continue
        kept.append(line)
    return "\r\n".join(kept), dropped
