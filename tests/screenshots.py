"""Screenshots of every page at phone and laptop size, so anyone can look at what people see.

    .venv/bin/python -m tests.screenshots --out /tmp/vigremote-shots

Starts a real server on a free port with a seeded case (a recording, a clip, a still and a shared
review), opens each page in headless Chromium (phone 390x844 and laptop 1280x720) and writes
one PNG per page and size. Nothing is asserted: it is for eyes (the tests assert).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page

from tests.conftest import start_server
from tests.review_helpers import make_clips
from tests.support.browser import launch_browser, new_desktop_context, new_phone_context
from tests.test_e2e_filming import practitioner_logs_in

LAPTOP = {"width": 1280, "height": 720}
SETTLE_S = 1.5


async def _context(browser: Browser, size: str) -> BrowserContext:
    if size == "phone":
        return await new_phone_context(browser)
    return await new_desktop_context(browser)


async def _shoot(page: Page, out: Path, name: str) -> Path:
    await asyncio.sleep(SETTLE_S)
    path = out / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path


async def shoot_all(out: Path) -> list[Path]:
    """Every page at both sizes, into `out` (which must exist)."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as data:
        runner, server = await start_server(Path(data) / "data")
        try:
            http, csrf, case_id, items = await make_clips(
                server, ["analysis", "shared_review", "supervision"], [(30, 90)], (40,)
            )
            async with http.post(
                f"{server.url}/api/cases/{case_id}/reviews",
                json={"items": [{"kind": i["kind"], "id": i["id"]} for i in items]},
                headers={"X-CSRF-Token": csrf},
            ) as response:
                review: dict[str, Any] = await response.json()
            async with http.post(
                f"{server.url}/api/cases/{case_id}/sessions", headers={"X-CSRF-Token": csrf}
            ) as response:
                filming: dict[str, Any] = await response.json()
            await http.close()
            recording_id = items[0]["recording_id"]
            async with launch_browser() as browser:
                for size in ("phone", "laptop"):
                    context = await _context(browser, size)
                    page = await context.new_page()
                    if size == "laptop":
                        await page.set_viewport_size(LAPTOP)
                    await page.goto(f"{server.url}/app")
                    written.append(await _shoot(page, out, f"{size}-login"))
                    await practitioner_logs_in(page, server, "alice")
                    written.append(await _shoot(page, out, f"{size}-cases"))
                    await page.goto(f"{server.url}/app#case/{case_id}")
                    written.append(await _shoot(page, out, f"{size}-case"))
                    await page.goto(f"{server.url}/analysis/{recording_id}")
                    written.append(await _shoot(page, out, f"{size}-analysis"))
                    await page.goto(f"{server.url}/review/{review['session']['id']}")
                    written.append(await _shoot(page, out, f"{size}-review-practitioner"))
                    family = await (await _context(browser, size)).new_page()
                    await family.goto(filming["family_link"])
                    written.append(await _shoot(family, out, f"{size}-family-start"))
                    await family.goto(review["family_link"])
                    written.append(await _shoot(family, out, f"{size}-family-review-start"))
                    await family.goto(f"{server.url}/f/not-a-real-link")
                    written.append(await _shoot(family, out, f"{size}-family-bad-link"))
                    await page.goto(f"{server.url}/app#live/{filming['session']['id']}")
                    written.append(await _shoot(page, out, f"{size}-live"))
                    await context.close()
                    await family.context.close()
        finally:
            await runner.cleanup()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="/tmp/vigremote-shots", help="folder for the PNGs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(shoot_all(out)):
        print(path)


if __name__ == "__main__":
    main()
