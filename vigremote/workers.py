"""`vigremote serve --workers N`: N server processes behind one address (parent and children).

The parent starts N children (`vigremote serve ... --worker-id wI --internal-port P`), each
listening on the public port with SO_REUSEPORT (the kernel spreads new connections over them)
and on an internal port of its own, where the others relay a browser's socket whose room lives
there (live/relay.py). They share live state through Redis (live/redis_state.py) and the data
folder (durable records in SQLite, media files). The parent restarts a child that dies; the dead
child's rooms move to another process once their leases lapse (signalling.py).

With no Redis URL, a redis-server found on this machine is started for the workers (on a free
loopback port, keeping nothing on disk), and the parent says so; without one it stops and says
what is needed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from aiohttp import web

from vigremote.app import create_app
from vigremote.config import Config

RESTART_DELAY_S = 1.0
_OWN_OPTIONS = ("--workers", "--demo", "--redis-url", "--worker-id", "--internal-port")
_FLAGS = ("--demo",)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def child_arguments(argv: Sequence[str]) -> list[str]:
    """The parent's `serve` arguments less those the parent handles itself."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _OWN_OPTIONS:
            skip = "=" not in arg and name not in _FLAGS
            continue
        out.append(arg)
    return out


def local_redis() -> tuple[str, subprocess.Popen[bytes]]:
    """A redis-server of this machine's for the workers; SystemExit if there is none."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit(
            "--workers above 1 needs Redis to share the rooms: give --redis-url "
            "redis://host:6379/0, or install redis-server (apt-get install redis-server) and "
            "vigremote starts one for its workers"
        )
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.05)
    print(f"no --redis-url: started redis-server for the workers at {url}", flush=True)
    return url, process


def serve_workers(serve_argv: Sequence[str], count: int, redis_url: str | None) -> int:
    """Run `count` worker processes until SIGTERM or SIGINT; restart any that dies."""
    own_redis = None
    if not redis_url:
        redis_url, own_redis = local_redis()
    base = [sys.executable, "-m", "vigremote.cli", "serve", *child_arguments(serve_argv)]
    ports = [free_port() for _ in range(count)]

    def start(index: int) -> subprocess.Popen[bytes]:
        extra = ["--redis-url", redis_url, "--worker-id", f"w{index}"]
        extra += ["--internal-port", str(ports[index])]
        child = subprocess.Popen([*base, *extra])
        print(f"worker w{index}: pid {child.pid}, internal port {ports[index]}", flush=True)
        return child

    children = [start(i) for i in range(count)]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            time.sleep(0.2)
            for index, child in enumerate(children):
                if child.poll() is not None and not stopping:
                    print(f"worker w{index} exited ({child.returncode}); restarting", flush=True)
                    time.sleep(RESTART_DELAY_S)
                    children[index] = start(index)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        if own_redis is not None:
            own_redis.terminate()
            own_redis.wait(timeout=10)
    return 0


def serve_worker(
    config: Config,
    worker_id: str,
    advertise_host: str,
    internal_port: int,
    loop: asyncio.AbstractEventLoop,
) -> int:
    """One of the children: the public port shared (SO_REUSEPORT), and an internal one where
    the others relay sockets whose room lives here. Runs until SIGTERM or SIGINT."""
    config = dataclasses.replace(
        config,
        worker_id=f"{worker_id}-{os.getpid()}",  # a restarted child is another process
        internal_url=f"http://{advertise_host}:{internal_port}",
    )
    app = create_app(config)

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, config.host, config.port, reuse_port=True).start()
        await web.TCPSite(runner, advertise_host, internal_port).start()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await runner.cleanup()

    loop.run_until_complete(run())
    return 0
