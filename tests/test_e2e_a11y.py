"""Accessibility of every page, at phone (390x844) and laptop (1280x720) size, in real Chromium.

Every page of tests/support/seeded.py (the same pages the screenshots show, error pages and the
family's pages included) is checked by axe-core (WCAG 2.0 and 2.1, levels A and AA: nothing
serious or critical may be found), and for what axe does not check: one <main> and one visible
<h1>; a way back from every practitioner's error page; on a phone, every control at least
44x44 px and no page scrolling sideways; no tabindex that reorders focus. The analysis timeline
is checked by keyboard on its own.

axe-core comes from the npm registry (`npm ci` installs it in node_modules/): without it the
axe test fails, saying so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page

from tests.conftest import RunningServer
from tests.support.browser import launch_browser, new_desktop_context, new_phone_context
from tests.support.recordings import seed_recording
from tests.support.seeded import (
    SIZES,
    VIEWPORTS,
    Size,
    Viewers,
    Visit,
    log_in,
    open_visit,
    seeded_server,
)

AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SERIOUS = ("serious", "critical")
MIN_TARGET_PX = 44

_RUN_AXE = """
async (tags) => {
  const result = await window.axe.run(document, {
    runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'],
  });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.join(' '), impact: n.impact })),
  }));
}
"""

# What axe does not check, measured in the page.
_FACTS = """
(minPx) => {
  const shown = (e) => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && e.checkVisibility({ visibilityProperty: true });
  };
  const name = (e) => {
    const id = e.id ? `#${e.id}` : '';
    const cls = typeof e.className === 'string' && e.className
      ? `.${e.className.split(' ').join('.')}` : '';
    const text = (e.getAttribute('aria-label') || e.textContent || e.value || '')
      .trim().slice(0, 30);
    return `${e.tagName.toLowerCase()}${id}${cls} "${text}"`;
  };
  const controls = 'button, a[href], input:not([type=hidden]), select, textarea, summary, '
    + '[role=slider], [tabindex]:not([tabindex="-1"])';
  const small = [];
  for (const e of document.querySelectorAll(controls)) {
    if (!shown(e)) continue;
    let box = e.getBoundingClientRect();
    // A tick box inside its label: the whole label is what a finger presses.
    const label = e.matches('input[type=checkbox], input[type=radio]') ? e.closest('label') : null;
    if (label) box = label.getBoundingClientRect();
    if (box.width < minPx - 0.5 || box.height < minPx - 0.5) {
      small.push(`${name(e)} ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  // axe takes a placeholder for a field's name, and does not ask a video for one.
  const named = (e) => Boolean((e.getAttribute('aria-label') || '').trim()
    || e.getAttribute('aria-labelledby') || (e.getAttribute('title') || '').trim());
  const labelled = (e) => named(e) || e.closest('label') !== null
    || (e.id !== '' && document.querySelector(`label[for="${e.id}"]`) !== null);
  const links = [...document.querySelectorAll('a[href]')].filter(shown)
    .filter((a) => new URL(a.href).origin === location.origin)
    .map((a) => new URL(a.href).pathname + new URL(a.href).hash);
  return {
    small,
    mains: document.querySelectorAll('main').length,
    h1s: [...document.querySelectorAll('h1')].filter(shown).map((h) => h.textContent.trim()),
    links,
    scrollWidth: document.documentElement.scrollWidth,
    reordered: [...document.querySelectorAll('[tabindex]')].filter((e) => e.tabIndex > 0).map(name),
    unnamed: [
      ...[...document.querySelectorAll('video')].filter((v) => !named(v)),
      ...[...document.querySelectorAll('input[placeholder], textarea[placeholder]')]
        .filter((e) => !labelled(e)),
    ].map(name),
  };
}
"""


@dataclass
class PageReport:
    size: Size
    visit: Visit
    facts: dict[str, Any]
    violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.size} {self.visit.name}"


@dataclass
class Survey:
    reports: list[PageReport]
    axe_missing: bool


async def _survey_all() -> Survey:
    axe_missing = not AXE.is_file()
    reports: list[PageReport] = []
    async with seeded_server() as seeded, launch_browser() as browser:
        for size in SIZES:
            viewers = Viewers(browser, seeded.server, size)
            try:
                for visit in seeded.visits:
                    page = await viewers.page(visit.viewer)
                    await open_visit(page, visit)
                    report = PageReport(size, visit, await page.evaluate(_FACTS, MIN_TARGET_PX))
                    if not axe_missing:
                        await page.add_script_tag(path=str(AXE))
                        report.violations = await page.evaluate(_RUN_AXE, AXE_TAGS)
                    reports.append(report)
                    await page.close()
            finally:
                await viewers.close()
    return Survey(reports, axe_missing)


@pytest.fixture(scope="module")
def survey() -> Survey:
    """Every page at both sizes, visited once for all the tests below (in a thread of its own:
    the tests' event loop is per test)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _survey_all()).result()


def _failures(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{what}:\n" + "\n".join(f"  - {p}" for p in problems), pytrace=False)


def test_axe_finds_nothing_serious_on_any_page(survey: Survey) -> None:
    if survey.axe_missing:
        pytest.fail(f"axe-core is not installed ({AXE} is missing): run `npm ci`", pytrace=False)
    problems = [
        f"{r.where}: {v['id']} ({v['impact']}: {v['help']}) at "
        + ", ".join(n["target"] for n in v["nodes"][:6])
        + (f" and {len(v['nodes']) - 6} more" if len(v["nodes"]) > 6 else "")
        for r in survey.reports
        for v in r.violations
        if v["impact"] in SERIOUS
    ]
    _failures(problems, "axe-core found serious or critical WCAG 2.1 A/AA violations")


def test_every_control_is_at_least_44px_on_a_phone(survey: Survey) -> None:
    problems = [
        f"{r.where}: {target}"
        for r in survey.reports
        if r.size == "phone"
        for target in r.facts["small"]
    ]
    _failures(problems, f"controls smaller than {MIN_TARGET_PX}x{MIN_TARGET_PX} px on a phone")


def test_no_page_scrolls_sideways_on_a_phone(survey: Survey) -> None:
    # A phone browser widens its layout to fit a page that is too wide: compare with the phone.
    width = VIEWPORTS["phone"]["width"]
    problems = [
        f"{r.where}: {r.facts['scrollWidth']} px wide on a {width} px screen"
        for r in survey.reports
        if r.size == "phone" and r.facts["scrollWidth"] > width
    ]
    _failures(problems, "pages wider than the phone")


def test_every_page_has_one_main_and_one_h1(survey: Survey) -> None:
    problems = [
        f"{r.where}: {r.facts['mains']} <main>, visible <h1>: {r.facts['h1s']}"
        for r in survey.reports
        if r.facts["mains"] != 1 or len(r.facts["h1s"]) != 1
    ]
    _failures(problems, "pages without exactly one <main> and one visible <h1>")


def test_every_practitioner_error_page_has_a_way_back(survey: Survey) -> None:
    # A family's page that cannot open the call says what to do instead (ask for a new link):
    # the family has no other page to go back to.
    errors = [r for r in survey.reports if r.visit.error and r.visit.viewer != "family"]
    assert len(errors) >= 2 * 5, [r.where for r in errors]
    problems = [
        f"{r.where}: links {r.facts['links']}"
        for r in errors
        if not any(link.startswith("/app") for link in r.facts["links"])
    ]
    _failures(problems, "error pages with no link back to the practitioner's pages")


def test_focus_follows_the_page_order(survey: Survey) -> None:
    problems = [f"{r.where}: {e}" for r in survey.reports for e in r.facts["reordered"]]
    _failures(problems, "elements that reorder focus (tabindex > 0)")


def test_every_video_and_field_has_a_name_of_its_own(survey: Survey) -> None:
    problems = [f"{r.where}: {e}" for r in survey.reports for e in r.facts["unnamed"]]
    _failures(problems, "videos without a name, or fields named only by a placeholder")


async def test_a_wrong_address_gets_a_page_with_a_way_back(server: RunningServer) -> None:
    browser_accept = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/no-such-page", headers=browser_accept) as response:
            assert response.status == 404
            assert response.content_type == "text/html"
            page = await response.text()
            assert "<h1>Page not found</h1>" in page and 'href="/app"' in page
            assert "Content-Security-Policy" in response.headers
        # Scripts and the API keep their plain answers.
        for path in ("/api/no-such-thing", "/static/no-such-script.js"):
            async with http.get(f"{server.url}{path}") as response:
                assert response.status == 404 and response.content_type != "text/html", path


async def _timeline_by_keyboard(page: Page, server: RunningServer, recording_id: str) -> None:
    await log_in(page, server, "alice")
    await page.goto(f"{server.url}/analysis/{recording_id}")
    timeline = page.locator("#timeline")
    # It says what it is and where it stands (once the recording is loaded), and is reached
    # with Tab like any control.
    assert await timeline.get_attribute("role") == "slider"
    assert await timeline.get_attribute("tabindex") == "0"
    await page.wait_for_selector('#timeline[aria-valuemax="299"][aria-valuenow="0"]')
    await page.locator("#next-bookmark").focus()
    for _ in range(5):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "timeline":
            break
    assert await page.evaluate("document.activeElement.id") == "timeline"
    shown = "document.querySelector('#frame-number').dataset.frame"

    async def frame_after(key: str) -> int:
        await page.keyboard.press(key)
        now = int(await page.evaluate(shown))
        assert await timeline.get_attribute("aria-valuenow") == str(now), key
        return now

    assert await frame_after("ArrowRight") == 1
    assert await frame_after("ArrowRight") == 2
    assert await frame_after("ArrowLeft") == 1
    assert await frame_after("End") == 299
    assert await frame_after("PageDown") == 269  # one second back (30 fps)
    assert await frame_after("Home") == 0
    assert await frame_after("PageUp") == 30
    assert "00:01.000" in (await timeline.get_attribute("aria-valuetext") or "")


@pytest.mark.parametrize("size", SIZES)
async def test_analysis_timeline_works_by_keyboard(server: RunningServer, size: Size) -> None:
    recording = seed_recording(server, server.add_user("alice"))
    async with launch_browser() as browser:
        make = new_phone_context if size == "phone" else new_desktop_context
        page = await (await make(browser)).new_page()
        await page.set_viewport_size(VIEWPORTS[size])
        await _timeline_by_keyboard(page, server, recording.id)
        await browser.close()
