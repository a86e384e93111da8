"""Screenshots of every page at phone and laptop size, so anyone can look at what people see.

    .venv/bin/python -m tests.screenshots --out /tmp/vigremote-shots [--full-page] [--only NAME]

Starts a real server on a free port seeded by tests/support/seeded.py (the same pages, in the
same states, as the accessibility test), opens each page in headless Chromium (phone 390x844
and laptop 1280x720), waits until it shows what it is for, and writes one PNG per page and
size. Nothing is asserted: it is for eyes (the tests assert).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from tests.support.browser import launch_browser
from tests.support.seeded import SIZES, Viewers, open_visit, seeded_server

# Videos and fonts paint a moment after the page says it is ready.
SETTLE_S = 0.5


async def shoot_all(out: Path, full_page: bool = False, only: str = "") -> list[Path]:
    """Every page at both sizes, into `out` (which must exist)."""
    written: list[Path] = []
    async with seeded_server() as seeded, launch_browser() as browser:
        for size in SIZES:
            viewers = Viewers(browser, seeded.server, size)
            try:
                for visit in seeded.visits:
                    if only and only not in visit.name:
                        continue
                    page = await viewers.page(visit.viewer)
                    await open_visit(page, visit)
                    await asyncio.sleep(SETTLE_S)
                    path = out / f"{size}-{visit.name}.png"
                    await page.screenshot(path=str(path), full_page=full_page)
                    written.append(path)
                    await page.close()
            finally:
                await viewers.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="/tmp/vigremote-shots", help="folder for the PNGs")
    parser.add_argument("--full-page", action="store_true", help="the whole page, not one screen")
    parser.add_argument("--only", default="", help="only pages whose name contains this")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(shoot_all(out, args.full_page, args.only)):
        print(path)


if __name__ == "__main__":
    main()
