"""`vigremote serve --demo` on a fresh data folder: the printed link and login just work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port
from tests.support.browser import (
    launch_browser,
    new_desktop_context,
    new_phone_context,
    wait_for_frame_numbers,
)
from tests.support.numbered_video import write_numbered_y4m


async def test_the_printed_demo_family_link_and_login_work(tmp_path: Path) -> None:
    camera = tmp_path / "camera.y4m"
    write_numbered_y4m(camera, frames=150, fps=15)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigremote.cli",
            "serve",
            "--demo",
            "--port",
            str(port),
            "--data",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        while not lines or lines[-1].strip() != "}":
            line = process.stdout.readline()
            assert line, "the server printed no demo details"
            lines.append(line)
        demo = json.loads("".join(lines))
        assert "listening" in process.stdout.readline()
        async with launch_browser(camera) as browser:
            family = await (await new_phone_context(browser)).new_page()
            practitioner = await (await new_desktop_context(browser)).new_page()
            await practitioner.goto(demo["practitioner_page"])
            await practitioner.fill("input[name=username]", demo["practitioner_login"]["username"])
            await practitioner.fill("input[name=password]", demo["practitioner_login"]["password"])
            await practitioner.click("#login-form button[type=submit]")
            await practitioner.click("#cases a")  # the demo case
            await practitioner.click("#sessions a.button")  # its open filming session
            await practitioner.wait_for_selector("#live-view:not([hidden])")
            await family.goto(demo["family_link"])
            await family.click("#start")
            numbers = await wait_for_frame_numbers(
                practitioner, "#family-video", count=3, timeout=30
            )
            assert numbers
            await browser.close()
    finally:
        process.terminate()
        process.wait(10)
