"""What the benchmarks measure processes with: free ports and CPU time read from /proc.

Imports nothing of vigremote, so the plain-aiortc baseline servers can use it too.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int, main_thread_only: bool = False) -> float:
    """utime + stime of a live process (fields 14 and 15): all its threads, or only its main
    thread (for an asyncio server, its event loop)."""
    stat = f"/proc/{pid}/task/{pid}/stat" if main_thread_only else f"/proc/{pid}/stat"
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
