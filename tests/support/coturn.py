"""A real coturn (Debian's `coturn` package) on loopback, with a TURN REST shared secret.

Started per test on free ports; it relays only between loopback and this machine's own
addresses, keeps no database and writes its log into the test's folder.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aioice.turn import create_turn_endpoint

from tests.conftest import free_port

TURNSERVER = "turnserver"


@dataclass(frozen=True)
class Coturn:
    port: int
    secret: str
    log: Path

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"


async def allocate(port: int, username: str, password: str) -> tuple[str, int]:
    """Ask the TURN server for a relay address with these credentials (raises if refused)."""
    transport, _ = await create_turn_endpoint(
        asyncio.DatagramProtocol, ("127.0.0.1", port), username, password, lifetime=60
    )
    try:
        relayed: tuple[str, int] = transport.get_extra_info("sockname")
        return relayed
    finally:
        transport.close()


@asynccontextmanager
async def running_coturn(folder: Path, secret: str = "test-turn-secret") -> AsyncIterator[Coturn]:
    binary = shutil.which(TURNSERVER)
    assert binary, "coturn is not installed: apt-get install coturn (tests/run.sh does)"
    port = free_port()
    relay_low = free_port()
    log = folder / "coturn.log"
    process = subprocess.Popen(
        [
            binary,
            "-n",  # no config file
            "--listening-ip=127.0.0.1",
            f"--listening-port={port}",
            "--relay-ip=127.0.0.1",
            f"--min-port={relay_low}",
            f"--max-port={relay_low + 50}",
            "--use-auth-secret",
            f"--static-auth-secret={secret}",
            "--realm=vigremote.test",
            "--allow-loopback-peers",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--no-tcp-relay",
            f"--log-file={log}",
            "--simple-log",
            "--verbose",  # names each user whose allocation succeeded
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        turn = Coturn(port, secret, log)
        await _wait_listening(turn, process)
        yield turn
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _wait_listening(turn: Coturn, process: subprocess.Popen[bytes]) -> None:
    """Until an allocation with a bad password is answered (refused): the server is up."""
    for _ in range(100):
        if process.poll() is not None:
            raise RuntimeError(f"coturn exited: {turn.log.read_text(errors='replace')[-2000:]}")
        try:
            await asyncio.wait_for(allocate(turn.port, "0:probe", "wrong"), 1.0)
        except TimeoutError:
            continue
        except Exception:
            return  # refused: it is listening
        return
    raise RuntimeError("coturn did not start listening")
