"""Remote ICE candidates: the server probes only what a browser could offer, and few of them.

Through the real signalling socket: a refused candidate is a user error, the socket stays
open, and aiortc never sees the candidate (its remote candidates are unchanged). Only
loopback candidates are ever accepted here, so the tests probe nothing beyond this machine.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from aiortc.sdp import candidate_from_sdp

from tests.support.publisher import aiortc_offer
from tests.support.signalling_client import Filming, replies_to, user_error
from vigremote.media.candidates import (
    MAX_REMOTE_CANDIDATES,
    CandidateRefused,
    address_refusal,
    screen,
)
from vigremote.media.peers import Peer


def candidate(
    address: str, port: int = 50000, rest: str = "typ host", protocol: str = "udp"
) -> dict[str, Any]:
    return {
        "candidate": f"candidate:1 1 {protocol} 2130706431 {address} {port} {rest}",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }


def remote_candidates(peer: Peer) -> list[tuple[str, int]]:
    """What aiortc will probe: the remote candidates of the (bundled) ICE transport."""
    ice = peer.pc.getTransceivers()[0].receiver.transport.transport
    return [(c.ip, c.port) for c in ice.getRemoteCandidates()]


async def offer_without_end_of_candidates() -> str:
    offer = await aiortc_offer()
    return "".join(f"{line}\r\n" for line in offer.splitlines() if line != "a=end-of-candidates")


async def connected_peer(filming: Filming, ws: Any, sdp: str | None = None) -> Peer:
    [answer] = await replies_to(
        ws, {"type": "offer", "sdp": sdp or await offer_without_end_of_candidates()}
    )
    assert answer["type"] == "answer", answer
    peer = (await filming.member("family")).peer
    assert isinstance(peer, Peer)
    return peer


REFUSED = {
    "link-local-v4": (candidate("169.254.10.20"), "link-local"),
    "link-local-v6": (candidate("fe80::1"), "link-local"),
    "metadata-v4": (candidate("169.254.169.254", 80), "metadata"),
    "metadata-v4-high-port": (candidate("169.254.169.254"), "metadata"),
    "metadata-aws-v6": (candidate("fd00:ec2::254"), "metadata"),
    "metadata-alibaba": (candidate("100.100.100.200"), "metadata"),
    "metadata-v4-mapped": (candidate("::ffff:169.254.169.254"), "metadata"),
    "metadata-nat64": (candidate("64:ff9b::a9fe:a9fe"), "metadata"),
    "multicast-v4": (candidate("224.0.0.251"), "multicast"),
    "multicast-v6": (candidate("ff02::1"), "multicast"),
    "unspecified-v4": (candidate("0.0.0.0"), "unspecified"),
    "unspecified-v6": (candidate("::"), "unspecified"),
    "this-network": (candidate("0.1.2.3"), "this network"),
    "broadcast": (candidate("255.255.255.255"), "broadcast"),
    "reserved": (candidate("240.0.0.1"), "reserved"),
    "port-0": (candidate("127.0.0.1", 0), "port"),
    "port-53": (candidate("127.0.0.1", 53), "port"),
    "port-too-high": (candidate("127.0.0.1", 70000), "port"),
    "dns-name": (candidate("metadata.google.internal"), "mDNS"),
    "unknown-type": (candidate("127.0.0.1", rest="typ bogus"), "type"),
    "unknown-protocol": (candidate("127.0.0.1", protocol="sctp"), "udp or tcp"),
    "link-local-tcp": (candidate("169.254.10.20", 9, "typ host tcptype active", "tcp"), "link"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
async def test_a_candidate_no_browser_would_offer_is_refused(filming: Filming, name: str) -> None:
    bad, reason = REFUSED[name]
    async with filming.family() as (ws, _):
        peer = await connected_peer(filming, ws)
        before = remote_candidates(peer)
        error = user_error(
            await replies_to(ws, {"type": "candidate", "candidate": bad}),
            "bad-candidate",
            "candidate",
        )
        assert reason in error["message"], error
        # Nothing reached aiortc, and the same connection goes on.
        assert remote_candidates(peer) == before
        assert (await filming.member("family")).peer is peer
        good = candidate("127.0.0.1", 40000)
        assert await replies_to(ws, {"type": "candidate", "candidate": good}) == []
        assert ("127.0.0.1", 40000) in remote_candidates(peer)


async def test_browser_candidates_are_accepted(filming: Filming) -> None:
    async with filming.family() as (ws, _):
        peer = await connected_peer(filming, ws)
        before = remote_candidates(peer)
        accepted = [
            candidate("127.0.0.1", 40001),
            candidate("::1", 40002),
            # Chromium hides its addresses behind mDNS names (aioice resolves them).
            candidate("0b7c5f8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b.local", 40003),
            # A TCP candidate as browsers send it (discard port 9): accepted but not probed,
            # as aiortc speaks UDP only.
            candidate("127.0.0.1", 9, "typ host tcptype active", "tcp"),
            None,
        ]
        for good in accepted:
            assert await replies_to(ws, {"type": "candidate", "candidate": good}) == []
        added = [c for c in remote_candidates(peer) if c not in before]
        assert ("127.0.0.1", 40001) in added and ("::1", 40002) in added
        assert ("127.0.0.1", 9) not in added


async def test_at_most_so_many_candidates_per_connection(filming: Filming) -> None:
    async with filming.family() as (ws, _):
        peer = await connected_peer(filming, ws)
        before = len(remote_candidates(peer))  # the offer's own candidates count too
        for number in range(MAX_REMOTE_CANDIDATES - before):
            good = candidate(f"127.0.0.{number + 1}", 40000 + number)
            assert await replies_to(ws, {"type": "candidate", "candidate": good}) == []
        extra = candidate("127.0.1.1", 41000)
        error = user_error(
            await replies_to(ws, {"type": "candidate", "candidate": extra}),
            "bad-candidate",
            "candidate",
        )
        assert "too many candidates" in error["message"]
        assert len(remote_candidates(peer)) == MAX_REMOTE_CANDIDATES
        # The end of candidates still goes through, on the same connection.
        assert await replies_to(ws, {"type": "candidate", "candidate": None}) == []
        assert (await filming.member("family")).peer is peer


async def test_candidates_of_bundled_m_lines_are_not_counted(filming: Filming) -> None:
    """Until it has the answer, a browser gathers for every m-line (a review has four); aiortc
    uses only the first m-line's transport, so the others' candidates must not use up the
    budget, or the first m-line's last candidates (TURN relays come last) would be refused."""
    async with filming.family() as (ws, _):
        peer = await connected_peer(filming, ws)
        before = remote_candidates(peer)
        for number in range(MAX_REMOTE_CANDIDATES + 8):
            other = candidate(f"127.0.2.{number + 1}", 43000 + number)
            other.update(sdpMid="1", sdpMLineIndex=1)
            assert await replies_to(ws, {"type": "candidate", "candidate": other}) == []
        # Still refused if unsafe, whatever the m-line.
        bad = candidate("169.254.169.254")
        bad.update(sdpMid="1", sdpMLineIndex=1)
        user_error(
            await replies_to(ws, {"type": "candidate", "candidate": bad}),
            "bad-candidate",
            "candidate",
        )
        assert remote_candidates(peer) == before
        mine = candidate("127.0.0.1", 40000)
        assert await replies_to(ws, {"type": "candidate", "candidate": mine}) == []
        assert ("127.0.0.1", 40000) in remote_candidates(peer)


async def test_candidates_inside_an_offer_are_screened_and_counted(filming: Filming) -> None:
    """An offer sent after gathering carries its candidates: the unsafe ones are dropped (the
    offer still works) and the rest use up the same budget."""
    inline = [
        "a=candidate:1 1 udp 2130706431 169.254.169.254 50000 typ host",
        "a=candidate:2 1 udp 2130706431 fe80::1 50000 typ host",
        "a=candidate:3 1 udp 2130706431 224.0.0.1 50000 typ host",
    ] + [
        f"a=candidate:{n} 1 udp 2130706431 127.0.0.{n} {42000 + n} typ host"
        for n in range(4, 4 + MAX_REMOTE_CANDIDATES + 5)
    ]
    # As browsers do, every bundled m-line repeats the same candidates: they count once.
    lines: list[str] = []
    for line in (await offer_without_end_of_candidates()).splitlines():
        lines += [line] + (inline if line.startswith("a=mid:") else [])
    sdp = "".join(f"{line}\r\n" for line in lines)
    async with filming.family() as (ws, _):
        peer = await connected_peer(filming, ws, sdp)
        probed = remote_candidates(peer)
        assert len(probed) == MAX_REMOTE_CANDIDATES
        assert all(ipaddress.ip_address(host).is_loopback for host, _ in probed)
        error = user_error(
            await replies_to(ws, {"type": "candidate", "candidate": candidate("127.0.0.1")}),
            "bad-candidate",
            "candidate",
        )
        assert "too many candidates" in error["message"]


# -- the rules themselves (no network) ----------------------------------------------------------
@pytest.mark.parametrize(
    "address",
    [
        "203.0.113.7",  # a public address (host or server-reflexive)
        "192.168.1.20",  # a home network
        "10.1.2.3",
        "100.64.1.2",  # carrier-grade NAT, as mobile networks give
        "172.16.0.5",
        "2001:db8::7",
        "fd12:3456::1",  # a unique local IPv6 address
        "127.0.0.1",
        "::1",
    ],
)
def test_addresses_a_browser_may_offer_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_a_relay_candidate_on_a_high_port_passes_and_tcp_is_dropped_quietly() -> None:
    relay = candidate_from_sdp(
        "1 1 udp 41885439 203.0.113.9 61234 typ relay raddr 198.51.100.4 rport 50000"
    )
    assert screen(relay) is True
    tcp = candidate_from_sdp("1 1 tcp 1518280447 203.0.113.9 9 typ host tcptype active")
    assert screen(tcp) is False
    with pytest.raises(CandidateRefused, match="port"):
        screen(candidate_from_sdp("1 1 udp 41885439 203.0.113.9 123 typ relay"))
