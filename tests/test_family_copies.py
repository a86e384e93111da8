"""Copies for the family (governance/copies.py): off unless the organisation allows downloads and
the family consented to copies; a time-limited, revocable page whose clips stream with ranges
and play on a phone; every step audited; a withdrawal or a revocation stops it at once."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import av
import pytest

from tests.conftest import RunningServer, start_server
from tests.review_helpers import make_clips
from tests.support.browser import launch_browser, new_phone_context
from vigremote.state import CONSENTS, STORE

PURPOSES = ["analysis", "shared_review", "copies"]


@pytest.fixture
async def allowing(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server whose organisation allows downloads."""
    runner, running = await start_server(tmp_path / "allowing", downloads_allowed=True)
    yield running
    await runner.cleanup()


async def make_page(
    server: RunningServer, purposes: list[str]
) -> tuple[aiohttp.ClientSession, str, str, list[dict[str, object]], aiohttp.ClientResponse]:
    http, csrf, case_id, clips = await make_clips(server, purposes, [(10, 69), (100, 159)])
    response = await http.post(
        f"{server.url}/api/cases/{case_id}/family-copies", headers={"X-CSRF-Token": csrf}
    )
    await response.read()
    return http, csrf, case_id, clips, response


def decoded_frames(data: bytes) -> int:
    with av.open(io.BytesIO(data), "r") as container:
        return sum(1 for _ in container.decode(video=0))


async def test_off_by_default_and_without_the_familys_consent(
    server: RunningServer, allowing: RunningServer
) -> None:
    http, _, _, _, response = await make_page(server, PURPOSES)
    async with http:
        assert response.status == 403
        assert "does not allow" in (await response.json())["error"]["message"]
    http, _, case_id, _, response = await make_page(allowing, ["analysis", "shared_review"])
    async with http:
        assert response.status == 403
        assert "not agreed" in (await response.json())["error"]["message"]
        async with http.get(f"{allowing.url}/api/cases/{case_id}/family-copies") as listed:
            body = await listed.json()
        assert body["pages"] == [] and "not agreed" in body["refused"]


async def test_the_family_streams_and_saves_their_clips_until_revoked(
    allowing: RunningServer,
) -> None:
    server = allowing
    http, csrf, case_id, clips, response = await make_page(server, PURPOSES)
    async with http, aiohttp.ClientSession() as family:  # the family has no login
        assert response.status == 201, await response.text()
        made = await response.json()
        token = made["url"].rsplit("/", 1)[1]
        assert made["page"]["expires_at"] - time.time() == pytest.approx(30 * 86400, abs=60)
        async with family.get(f"{server.url}/api/copies/{token}") as got:
            listed = await got.json()
        assert [c["id"] for c in listed["clips"]] == [c["id"] for c in clips]
        url = server.url + listed["clips"][0]["url"]
        async with family.get(url) as got:
            whole = await got.read()
            assert got.status == 200 and "attachment" not in got.headers.get(
                "Content-Disposition", ""
            )
        assert decoded_frames(whole) == 60  # frames 10..69: the clip, decrypted
        async with family.get(url, headers={"Range": "bytes=100-1099"}) as got:
            assert got.status == 206 and await got.read() == whole[100:1100]
        async with family.get(server.url + listed["clips"][0]["download_url"]) as got:
            assert "attachment" in got.headers["Content-Disposition"]
            assert await got.read() == whole
        async with family.get(f"{server.url}/api/copies/{token}x") as got:
            assert got.status == 404
        async with family.get(f"{server.url}/c/{token}", headers={"Accept": "text/html"}) as got:
            assert got.status == 200 and "copies.js" in await got.text()

        actions = [e["action"] for e in server.app[STORE].audit_trail()]
        for action in ("copies-page-made", "copies-page-opened", "copy-played", "copy-saved"):
            assert action in actions, action

        async with http.delete(
            f"{server.url}/api/family-copies/{made['page']['id']}", headers={"X-CSRF-Token": csrf}
        ) as revoked:
            assert revoked.status == 200
        async with family.get(url) as got:
            assert got.status == 403 and (await got.json())["error"]["code"] == "revoked"
        assert "copies-page-revoked" in [e["action"] for e in server.app[STORE].audit_trail()]


async def test_a_withdrawal_or_the_end_of_the_period_stops_the_page(
    allowing: RunningServer,
) -> None:
    server = allowing
    http, _, case_id, _, response = await make_page(server, PURPOSES)
    async with http, aiohttp.ClientSession() as family:
        token = (await response.json())["url"].rsplit("/", 1)[1]
        async with family.get(f"{server.url}/api/copies/{token}") as got:
            assert got.status == 200
        server.app[CONSENTS].record(case_id, ["analysis"], "test", "family")
        async with family.get(f"{server.url}/api/copies/{token}") as got:
            assert got.status == 403 and (await got.json())["error"]["code"] == "no-copies"
        server.app[CONSENTS].record(case_id, PURPOSES, "test", "family")
        server.app[STORE].db.execute("UPDATE family_copies SET expires_at = ?", (time.time() - 1,))
        async with family.get(f"{server.url}/api/copies/{token}") as got:
            assert got.status == 403 and (await got.json())["error"]["code"] == "expired"


async def test_the_page_plays_on_a_phone_and_a_bad_link_says_so(allowing: RunningServer) -> None:
    server = allowing
    http, _, _, _, response = await make_page(server, PURPOSES)
    async with http:
        link = (await response.json())["url"]
    async with launch_browser() as browser:
        page = await (await new_phone_context(browser)).new_page()
        await page.goto(link)
        await page.wait_for_selector("#clips video")
        assert await page.locator("#clips li").count() == 2
        await page.wait_for_function(
            "document.querySelector('#clips video').readyState >= 1", timeout=15000
        )
        duration = await page.evaluate("document.querySelector('#clips video').duration")
        assert duration == pytest.approx(2.0, abs=0.1)
        assert "works until" in (await page.text_content("#expires") or "")
        save = page.locator("#clips a.button").first
        assert await save.get_attribute("download") is not None
        await page.goto(link[:-5])
        await page.wait_for_function(
            "document.querySelector('#status').textContent.includes('does not work')"
        )
        assert await page.locator("#clips li").count() == 0
