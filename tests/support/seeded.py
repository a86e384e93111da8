"""A seeded server and the list of every page people see, for the screenshots and the
accessibility test (both visit the same pages, in the same states).

The seed is one practitioner ("alice") with a case holding a finished recording (with a
bookmark), a clip, a still, an open shared review, a recorded shared review (replayable), an
open filming session and the family's links in every state (good, replaced, out of date, call
ended, mangled); and a second practitioner ("bob") whose recording alice may not open.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize
from playwright.async_api import Error as PlaywrightError

from tests.conftest import PASSWORD, RunningServer, start_server
from tests.review_helpers import make_clips
from tests.support.browser import new_desktop_context, new_phone_context
from tests.support.recordings import make_recording, seed_recording
from vigremote.cases import FAMILY_PARTICIPANT_ID
from vigremote.paths import recording_dir
from vigremote.state import CONSENTS, RATINGS, RECORDINGS, SIGNER, SUPERVISION, VAULT
from vigremote.storage import new_id

Size = Literal["phone", "laptop"]
Viewer = Literal["nobody", "practitioner", "family", "admin"]
SIZES: tuple[Size, ...] = ("phone", "laptop")
VIEWPORTS: dict[Size, ViewportSize] = {
    "phone": {"width": 390, "height": 844},
    "laptop": {"width": 1280, "height": 720},
}
PRACTITIONER = "alice"
ADMIN = "ada"
RECORDING_FRAMES = 300


@dataclass(frozen=True)
class Visit:
    """One page in one state: where it is, who looks at it, and when it is ready."""

    name: str
    viewer: Viewer
    url: str
    # A JavaScript expression that is true once the page shows what it is for.
    ready: str
    # Pressed in this order once the page has loaded (each waits for the element first).
    clicks: tuple[str, ...] = ()
    # An error page: it must offer a way back.
    error: bool = False
    # The family answers the consent question if the call asks it (a call that has had their
    # answer already does not ask again).
    agree: bool = False


@dataclass(frozen=True)
class Seeded:
    server: RunningServer
    case_id: str
    recording_id: str
    visits: list[Visit] = field(default_factory=list)


async def _post(http: aiohttp.ClientSession, url: str, csrf: str, body: Any = None) -> Any:
    async with http.post(url, json=body, headers={"X-CSRF-Token": csrf}) as response:
        assert response.status in (200, 201), await response.text()
        return await response.json()


def _replayable_review(server: RunningServer, case_id: str, session_id: str, clip_id: str) -> str:
    """A recorded shared review, as the recorder leaves one: both cameras, the playback events
    and a chapter at the pause."""
    consent = server.app[CONSENTS].current(case_id)
    assert consent is not None
    store = server.app[RECORDINGS]
    purposes = ["analysis", "shared_review", "supervision"]
    recording = store.add(case_id, session_id, consent.id, purposes)
    folder = recording_dir(server.config.data_dir, case_id, recording.id)
    make_recording(server.app[VAULT], folder / "segment-001.webm", frames=90)
    make_recording(server.app[VAULT], folder / "practitioner-002.webm", frames=90)
    store.add_segment(recording.id, 1, "segment-001.webm", "VP8")
    store.add_segment(recording.id, 2, "practitioner-002.webm", "VP8")
    user = server.store.user_by_name(PRACTITIONER)
    assert user is not None
    events: list[tuple[float, dict[str, Any]]] = [
        (0.0, {"action": "select", "kind": "clip", "id": clip_id}),
        (0.0, {"action": "seek", "frame": 0}),
        (0.5, {"action": "play", "frame": 0, "speed": 1}),
        (1.5, {"action": "pause", "frame": 30}),
    ]
    for t_s, event in events:
        store.add_mark(recording.id, t_s, "review", json.dumps(event), user.id)
    store.add_mark(recording.id, 1.5, "chapter", "Paused on frame 30", user.id)
    store.set_progress(recording.id, 3.0, (folder / "segment-001.webm").stat().st_size)
    store.set_status(recording.id, "complete")
    return recording.id


def _expired_link(server: RunningServer, session_id: str) -> str:
    """The session's family link, in force but out of date (sent more than a week ago)."""
    link_id = new_id()
    token = server.app[SIGNER].issue(
        session_id, "family", FAMILY_PARTICIPANT_ID, "Family", -3600, token_id=link_id
    )
    server.store.set_family_link(session_id, link_id)
    return f"{server.url}/f/{token}"


def _shown(selector: str) -> str:
    return f"!document.querySelector('{selector}').hidden"


def _says(text: str) -> str:
    """The family page's status line says this."""
    return f"document.querySelector('#status').textContent.includes('{text}')"


# A recording or review that cannot be opened says why in its place (web/ui.js cannotOpen).
_CANNOT_OPEN = _shown("#cannot-open")
_CANNOT_OPEN += " && document.querySelector('#cannot-open-text').textContent.length > 0"


# The family is in the call and has answered the question about recording.
_ANSWERED = f"{_shown('#call-panel')} && {_shown('#consent-change')}"
_ANSWERED += " && document.querySelector('#consent-panel').hidden"


def _visits(url: str, seed: dict[str, str]) -> list[Visit]:
    case = f"{url}/app#case/{seed['case']}"
    return [
        Visit("login", "nobody", f"{url}/app", _shown("#login-view")),
        Visit("cases", "practitioner", f"{url}/app", "document.querySelector('#cases a') !== null"),
        Visit(
            "case",
            "practitioner",
            case,
            _shown("#case-view") + " && document.querySelectorAll('#recordings tbody tr').length"
            " && document.querySelectorAll('#clips tbody tr').length"
            " && document.querySelectorAll('#stills img').length"
            " && [...document.querySelectorAll('img')].every((i) => i.complete)",
        ),
        Visit(
            "case-new-link",
            "practitioner",
            case,
            _shown("#new-link") + " && document.querySelector('#withdrawal').open"
            " && document.querySelector('#family-qr').complete",
            clicks=("#new-session", "#withdrawal summary"),
        ),
        Visit(
            "case-governance",
            "practitioner",
            case,
            _shown("#case-view") + " && document.querySelector('#views').open"
            " && document.querySelector('#erase').open"
            " && document.querySelectorAll('#views-table tbody tr').length"
            " && document.querySelectorAll('#copies-pages li').length",
            clicks=("#views summary", "#hold summary", "#erase summary"),
        ),
        Visit(
            "audit",
            "admin",
            f"{url}/audit",
            "document.querySelectorAll('#audit tbody tr').length > 3",
        ),
        Visit(
            "supervision",
            "practitioner",
            f"{url}/supervision",
            _shown("#viewer") + " && document.querySelectorAll('#comments li').length"
            " && document.querySelector('#viewer-media video').readyState >= 1",
            clicks=("#shares button.open-share",),
        ),
        Visit(
            "supervision-call",
            "practitioner",
            f"{url}{seed['supervision_call']}",
            "document.querySelector('#driver').textContent === 'you'"
            " && document.querySelectorAll('#playlist li').length",
        ),
        Visit(
            "supervision-call-recorded-review",
            "practitioner",
            f"{url}{seed['recorded_call']}",
            "document.querySelector('#driver').textContent === 'you'"
            " && !document.querySelector('#recorded-cameras').hidden"
            " && document.querySelector('#recorded-practitioner-video').videoWidth > 0",
        ),
        Visit(
            "progress",
            "practitioner",
            f"{url}/progress",
            _shown("#entry") + " && document.querySelector('#chart').complete"
            " && document.querySelector('#chart').naturalWidth > 0",
            clicks=("#log button.open-entry",),
        ),
        Visit(
            "family-copies",
            "family",
            seed["copies_link"],
            "document.querySelectorAll('#clips video').length"
            " && document.querySelector('#clips video').readyState >= 1",
        ),
        Visit(
            "family-copies-bad-link",
            "family",
            f"{url}/c/not-a-real-link",
            _says("does not work"),
            error=True,
        ),
        Visit(
            "live",
            "practitioner",
            f"{url}/app#live/{seed['filming']}",
            _shown("#live-view")
            + " && document.querySelector('#live-state').dataset.state === 'connected'",
        ),
        Visit(
            "analysis",
            "practitioner",
            f"{url}/analysis/{seed['recording']}",
            f"document.querySelector('#frame-count').textContent === '{RECORDING_FRAMES}'"
            " && document.querySelectorAll('#thumbs .thumb').length"
            " && document.querySelectorAll('#clip-list li').length"
            " && document.querySelector('#work').hidden",
        ),
        Visit(
            "review-practitioner",
            "practitioner",
            f"{url}/review/{seed['review']}",
            "document.querySelectorAll('#playlist li').length"
            " && document.querySelector('#live-state').dataset.state === 'connected'",
        ),
        Visit(
            "replay",
            "practitioner",
            f"{url}/replay/{seed['replay']}",
            "document.querySelectorAll('#chapters button').length"
            " && [...document.querySelectorAll('aside video')].every((v) => v.readyState >= 1)",
        ),
        Visit("family-start", "family", seed["family_link"], _says("Press the button")),
        Visit(
            "family-consent",
            "family",
            seed["family_link"],
            _shown("#consent-panel")
            + " && document.querySelectorAll('#consent-purposes input').length",
            clicks=("#start",),
        ),
        Visit(
            "family-call",
            "family",
            seed["call_link"],
            _ANSWERED + " && " + _shown("#self-view"),
            clicks=("#start",),
            agree=True,
        ),
        Visit(
            "family-review-call",
            "family",
            seed["review_link"],
            _ANSWERED + " && document.querySelector('#review-state').textContent.trim().length > 0",
            clicks=("#start",),
            agree=True,
        ),
        Visit(
            "family-review-start",
            "family",
            seed["review_link"],
            _says("Press the button") + " && document.body.classList.contains('in-review')",
        ),
        Visit("family-call-ended", "family", seed["ended_link"], _says("has ended"), error=True),
        Visit(
            "family-bad-link",
            "family",
            f"{url}/f/not-a-real-link",
            _says("cannot be used"),
            error=True,
        ),
        Visit(
            "family-replaced-link", "family", seed["replaced_link"], _says("newer link"), error=True
        ),
        Visit(
            "family-expired-link", "family", seed["expired_link"], _says("out of date"), error=True
        ),
        Visit(
            "error-not-found",
            "practitioner",
            f"{url}/no-such-page",
            "document.querySelector('h1') !== null",
            error=True,
        ),
        Visit(
            "error-analysis-not-found",
            "practitioner",
            f"{url}/analysis/no-such-recording",
            _CANNOT_OPEN,
            error=True,
        ),
        Visit(
            "error-analysis-forbidden",
            "practitioner",
            f"{url}/analysis/{seed['other_recording']}",
            _CANNOT_OPEN,
            error=True,
        ),
        Visit(
            "error-review-forbidden",
            "practitioner",
            f"{url}/review/{seed['other_session']}",
            _CANNOT_OPEN,
            error=True,
        ),
        Visit(
            "error-replay-forbidden",
            "practitioner",
            f"{url}/replay/{seed['other_recording']}",
            _CANNOT_OPEN,
            error=True,
        ),
    ]


@asynccontextmanager
async def seeded_server() -> AsyncIterator[Seeded]:
    """A real server on a free port with everything every page needs, removed on exit."""
    with tempfile.TemporaryDirectory() as data:
        # Copies for the family are allowed, so that their page can be visited too.
        runner, server = await start_server(Path(data) / "data", downloads_allowed=True)
        try:
            yield await _seed(server)
        finally:
            await runner.cleanup()


async def _seed(server: RunningServer) -> Seeded:
    url = server.url
    http, csrf, case_id, items = await make_clips(
        server, ["analysis", "shared_review", "supervision", "copies"], [(30, 90)], (40,)
    )
    server.add_user(ADMIN, role="admin")
    try:
        review = await _post(
            http,
            f"{url}/api/cases/{case_id}/reviews",
            csrf,
            {"items": [{"kind": i["kind"], "id": i["id"]} for i in items]},
        )
        sessions = f"{url}/api/cases/{case_id}/sessions"
        filming = await _post(http, sessions, csrf)
        call = await _post(http, sessions, csrf)
        replaced = await _post(http, sessions, csrf)
        await _post(http, f"{url}/api/sessions/{replaced['session']['id']}/family-link", csrf)
        expired = await _post(http, sessions, csrf)
        ended = await _post(http, sessions, csrf)
        await _post(http, f"{url}/api/sessions/{ended['session']['id']}/end", csrf)
        copies = await _post(http, f"{url}/api/cases/{case_id}/family-copies", csrf)
        trainee = server.store.user_by_name(PRACTITIONER)
        assert trainee is not None
        supervisor = server.add_user("sam", role="supervisor")
        server.app[SUPERVISION].link(trainee.id, supervisor.id, "seed")
        shared = await _post(
            http, f"{url}/api/shares", csrf, {"kind": "clip", "id": items[0]["id"]}
        )
        comment = {"frame": 5, "tag": "strength", "text": "Mum waits for his cue"}
        await _post(http, f"{url}/api/shares/{shared['share']['id']}/comments", csrf, comment)
        supervision_call = await _post(
            http, f"{url}/api/supervision-calls", csrf, {"shares": [shared["share"]["id"]]}
        )
        replay = _replayable_review(server, case_id, review["session"]["id"], items[0]["id"])
        shared_review = await _post(
            http, f"{url}/api/shares", csrf, {"kind": "recording", "id": replay}
        )
        recorded_call = await _post(
            http, f"{url}/api/supervision-calls", csrf, {"shares": [shared_review["share"]["id"]]}
        )
        ratings = server.app[RATINGS]
        entry = ratings.add(trainee.id, supervisor.id, "face-to-face", 1_764_000_000, 3600, "seed")
        _, scale = ratings.current_scale()
        ratings.rate(entry, "self", trainee.id, {i["id"]: 3 for i in scale["items"]})
    finally:
        await http.close()
    review_id = review["session"]["id"]
    other = seed_recording(server, server.add_user("bob"))
    seed = {
        "case": case_id,
        "recording": items[0]["recording_id"],
        "filming": filming["session"]["id"],
        "family_link": filming["family_link"],
        "call_link": call["family_link"],
        "review": review_id,
        "review_link": review["family_link"],
        "replay": replay,
        "replaced_link": replaced["family_link"],
        "expired_link": _expired_link(server, expired["session"]["id"]),
        "ended_link": ended["family_link"],
        "other_recording": other.id,
        "other_session": other.session_id,
        "copies_link": copies["url"],
        "supervision_call": supervision_call["call"]["url"],
        "recorded_call": recorded_call["call"]["url"],
    }
    return Seeded(server, case_id, seed["recording"], _visits(url, seed))


async def new_context(browser: Browser, size: Size) -> BrowserContext:
    """A phone (touch, 390x844) or a laptop (1280x720) browser context."""
    if size == "phone":
        return await new_phone_context(browser)
    return await new_desktop_context(browser)  # 1280x800: each page is set to 1280x720


async def log_in(page: Page, server: RunningServer, username: str = PRACTITIONER) -> None:
    await page.goto(f"{server.url}/app")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#cases-view:not([hidden])")


async def open_visit(page: Page, visit: Visit, timeout_ms: float = 20_000) -> None:
    """Go to the page, press what the visit presses, and wait until it is ready."""
    await page.goto(visit.url)
    try:
        for selector in visit.clicks:
            await page.click(selector, timeout=timeout_ms)
        if visit.agree:
            # The question is shown, or "Change what I agreed to" is: answered in this call.
            asked = _shown("#consent-panel") + " || " + _shown("#consent-change")
            await page.wait_for_function(asked, timeout=timeout_ms)
            if await page.is_visible("#consent-agree"):
                await page.click("#consent-agree", timeout=timeout_ms)
        await page.wait_for_function(visit.ready, timeout=timeout_ms)
    except PlaywrightError as exc:  # a timeout, or the page lacks what `ready` looks at
        said = await page.evaluate(
            "() => { const m = document.querySelector('#message');"
            " return m && !m.hidden ? m.textContent : null; }"
        )
        raise AssertionError(
            f"page {visit.name!r} ({visit.url}) never became ready: {visit.ready}\n"
            f"the page said: {said!r}\n{exc}"
        ) from None


class Viewers:
    """One browser context per kind of viewer (the practitioner's is logged in), at one size."""

    def __init__(self, browser: Browser, server: RunningServer, size: Size) -> None:
        self.browser, self.server, self.size = browser, server, size
        self._contexts: dict[Viewer, BrowserContext] = {}

    async def page(self, viewer: Viewer) -> Page:
        """A new page for this viewer (close it after use: a family page holds a call)."""
        if viewer not in self._contexts:
            context = await new_context(self.browser, self.size)
            self._contexts[viewer] = context
            if viewer in ("practitioner", "admin"):
                page = await context.new_page()
                await log_in(page, self.server, PRACTITIONER if viewer == "practitioner" else ADMIN)
                await page.close()
        page = await self._contexts[viewer].new_page()
        await page.set_viewport_size(VIEWPORTS[self.size])
        return page

    async def close(self) -> None:
        for context in self._contexts.values():
            await context.close()
        self._contexts.clear()
