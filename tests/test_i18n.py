"""Every family-facing text in every shipped language.

The page's texts (web/i18n/<code>.json): the same keys and placeholders in every language, none
empty, and every key the family's page uses is there. The consent wording
(vigremote/data/consent-wording*.json): the same question (version, purposes, keys) in every
language. The server gives the wording in the language asked for, English for one it does not
ship, and stores the language the family answered in (also in an old data folder).
"""

from __future__ import annotations

import json
import re
import sqlite3
import typing
from collections.abc import AsyncIterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer, login, start_server
from tests.review_helpers import review
from tests.support.publisher import SimulatedFamily
from tests.support.vaults import TEST_MASTER_KEY
from vigremote.config import Config
from vigremote.consent.store import (
    ConsentStore,
    check_same_question,
    load_wording,
    load_wordings,
    translated,
)
from vigremote.messages import ReviewPlayState
from vigremote.state import CONSENT_WORDINGS, CONSENTS
from vigremote.vault.keyring import Keyring

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
I18N = WEB / "i18n"
DATA = ROOT / "vigremote" / "data"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# A key as the pages write it: 'namespace.rest' in quotes (the namespace is one of en.json's).
KEY_LITERAL = re.compile(r"""['"]([a-z]+(?:\.[a-z0-9-]+)+)['"]""")
HTML_KEY = re.compile(r'data-i18n="([^"]+)"')
HTML_ATTR_KEYS = re.compile(r'data-i18n-attr="([^"]+)"')
# Keys the pages build from what the server sends: error.<code>, notice.<code>, review.<state>.
BUILT = ("error.", "notice.", "review.")
# The notices the review player sends (review/player.py, notice_code).
NOTICE_CODES = ("consent-withdrawn", "deleted")
# The error codes a family can meet, in the call or on its link after the call.
FAMILY_ERRORS = ("stale-wording", "bad-consent", "withdrawal-only", "not-allowed", "not-family")
NOTE_KEYS = ("retention_text", "withdraw_text", "contact_text")


def shipped_texts() -> dict[str, dict[str, str]]:
    return {p.stem: json.loads(p.read_text("utf-8")) for p in sorted(I18N.glob("*.json"))}


def wording_files() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(DATA.glob("consent-wording*.json")):
        language = path.name.removeprefix("consent-wording").removesuffix(".json").lstrip(".")
        found[language or "en"] = json.loads(path.read_text("utf-8"))
    return found


def page_keys() -> tuple[set[str], set[str]]:
    """(keys in the family page's HTML, key-like literals in the pages' scripts)."""
    html: set[str] = set()
    for page in WEB.glob("*.html"):
        source = page.read_text("utf-8")
        html |= set(HTML_KEY.findall(source))
        for pairs in HTML_ATTR_KEYS.findall(source):
            html |= {pair.split(":", 1)[1] for pair in pairs.split()}
    namespaces = {key.split(".")[0] for key in shipped_texts()["en"]}
    scripts = {
        key
        for script in WEB.glob("*.js")
        for key in KEY_LITERAL.findall(script.read_text("utf-8"))
        if key.split(".")[0] in namespaces
    }
    return html, scripts


def shape(value: Any) -> Any:
    """A wording's structure: its keys, all the way down (texts stand as "text")."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return "text" if isinstance(value, str) else value


def empty_texts(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in empty_texts(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [e for i, v in enumerate(value) for e in empty_texts(v, f"{path}[{i}]")]
    return [path] if isinstance(value, str) and not value.strip() else []


# -- the page's texts ------------------------------------------------------------------------


def test_english_and_welsh_are_shipped() -> None:
    texts = shipped_texts()
    assert {"en", "cy"} <= set(texts)
    assert texts["en"]["language.name"] == "English" and texts["cy"]["language.name"] == "Cymraeg"


@pytest.mark.parametrize("language", sorted(set(shipped_texts()) - {"en"}))
def test_every_language_has_every_key_and_the_same_placeholders(language: str) -> None:
    english, other = shipped_texts()["en"], shipped_texts()[language]
    assert sorted(set(english) - set(other)) == [], f"missing in {language}"
    assert sorted(set(other) - set(english)) == [], f"in {language} only"
    for texts in (english, other):
        assert all(isinstance(v, str) and v.strip() for v in texts.values()), texts
    differ = {
        key: (english[key], other[key])
        for key in english
        if set(PLACEHOLDER.findall(english[key])) != set(PLACEHOLDER.findall(other[key]))
    }
    assert differ == {}


def test_every_key_the_family_page_uses_is_in_english() -> None:
    english = shipped_texts()["en"]
    html, scripts = page_keys()
    assert len(html) >= 15 and len(scripts) >= 40, (html, scripts)  # the scan finds them
    assert sorted((html | scripts) - set(english)) == []
    # Keys built from the server's codes and states.
    states = [s for s in typing.get_args(ReviewPlayState) if s != "playing"]
    built = [f"review.{s}" for s in states] + [f"notice.{c}" for c in NOTICE_CODES]
    built += ["error.generic"] + [f"error.{code}" for code in FAMILY_ERRORS]
    assert sorted(set(built) - set(english)) == []


def test_every_english_key_is_used() -> None:
    html, scripts = page_keys()
    unused = [
        key
        for key in shipped_texts()["en"]
        if key not in html | scripts and not key.startswith(BUILT) and key != "language.name"
    ]
    assert unused == []


# -- the consent wording ---------------------------------------------------------------------


def test_the_consent_wording_is_the_same_question_in_every_language() -> None:
    files = wording_files()
    assert set(files) == set(shipped_texts()), "one wording file per page language"
    english = files["en"]
    for language, wording in files.items():
        assert wording["version"] == english["version"], language
        assert [(p["id"], p["required_for_recording"]) for p in wording["purposes"]] == [
            (p["id"], p["required_for_recording"]) for p in english["purposes"]
        ], language
        assert shape(wording) == shape(english), language
        assert {k: v["records"] for k, v in wording["sessions"].items()} == {
            k: v["records"] for k, v in english["sessions"].items()
        }
        assert empty_texts(wording) == [], language
        assert len({p["label"] for p in wording["purposes"]}) == len(wording["purposes"])
    # The English notes are the organisation's defaults a translation stands in for.
    builtin = {f.name: f.default for f in fields(Config) if f.name in NOTE_KEYS}
    assert english["default_notes"] == builtin


def test_the_server_loads_every_language_and_refuses_a_different_question() -> None:
    wordings = load_wordings()
    assert set(wordings) == set(wording_files())
    assert wordings["cy"]["language"] == "cy" and wordings["en"]["language"] == "en"
    assert wordings["cy"]["title"] != wordings["en"]["title"]
    assert wordings["cy"]["purposes"][0]["required_for_recording"] is True
    english = load_wording()
    # A text a translation lacks is said in English; structure always comes from English.
    partial = {"title": "Teitl", "purposes": [{"id": "analysis", "label": "Label"}]}
    merged = translated(english, partial | {"version": "another"})
    assert merged["title"] == "Teitl" and merged["version"] == english["version"]
    assert merged["purposes"][0]["label"] == "Label"
    assert merged["purposes"][0]["detail"] == english["purposes"][0]["detail"]
    assert merged["after_call"] == english["after_call"]
    with pytest.raises(ValueError, match="version"):
        check_same_question(english, partial | {"version": "another"}, "xx")
    fewer = {"version": english["version"], "purposes": english["purposes"][:2]}
    with pytest.raises(ValueError, match="purposes"):
        check_same_question(english, fewer, "xx")


# -- the server ------------------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def wording_in(
    http: aiohttp.ClientSession, server: RunningServer, token: str, query: str
) -> dict[str, Any]:
    async with http.get(
        f"{server.url}/api/family/consent{query}", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 200, await response.text()
        wording: dict[str, Any] = (await response.json())["wording"]
        return wording


async def test_the_wording_comes_in_the_language_asked_for_or_english(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    created = server.new_session(server.add_user("alice"))
    wordings = server.app[CONSENT_WORDINGS]
    welsh = await wording_in(http, server, created["token"], "?language=cy")
    assert (welsh["language"], welsh["title"]) == ("cy", wordings["cy"]["title"])
    assert welsh["intro"] == wordings["cy"]["sessions"]["filming"]["intro"]
    # The organisation's lines, left at their defaults, are said in Welsh too.
    assert welsh["contact_text"] == wordings["cy"]["default_notes"]["contact_text"]
    for query in ("", "?language=xx", "?language=" + "c" * 500, "?language=CY%00", "?language="):
        english = await wording_in(http, server, created["token"], query)
        assert (english["language"], english["title"]) == ("en", wordings["en"]["title"]), query
        assert english["contact_text"] == Config.contact_text
        assert english["version"] == welsh["version"]


async def test_the_organisations_own_lines_stay_as_configured(tmp_path: Path) -> None:
    runner, server = await start_server(tmp_path / "data", retention_text="Kept for 12 months.")
    try:
        created = server.new_session(server.add_user("alice"))
        async with aiohttp.ClientSession() as http:
            welsh = await wording_in(http, server, created["token"], "?language=cy")
        assert welsh["retention_text"] == "Kept for 12 months."
        assert (
            welsh["withdraw_text"]
            == server.app[CONSENT_WORDINGS]["cy"]["default_notes"]["withdraw_text"]
        )
    finally:
        await runner.cleanup()


async def test_the_language_the_family_answered_in_is_stored(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    owner = server.add_user("alice")
    created = server.new_session(owner)
    version = server.app[CONSENT_WORDINGS]["en"]["version"]
    family = SimulatedFamily(server.ws_url, created["token"])
    await family.join(with_media=False)
    joined = await family.wait_for("consent")
    assert joined["wording"]["language"] == "en"  # the copy at join; the page asks for its own
    consents = server.app[CONSENTS]
    try:
        answers: list[tuple[object, str]] = [
            ("cy", "cy"),
            ("klingon", "en"),  # not shipped: English, and the answer still counts
            (5, "en"),
            (None, "en"),
        ]
        for index, (language, stored) in enumerate(answers, start=1):
            message = {"type": "consent", "version": version, "purposes": ["analysis"]}
            if language is not None:
                message["language"] = language
            await family.send(message)
            told = await family.wait_for("consent", after=index)
            assert told["consent"]["language"] == stored, language
            assert consents.current(created["case_id"]).language == stored  # type: ignore[union-attr]
    finally:
        await family.close()
    audit = [a for a in server.store.audit_trail() if a["action"] == "consent-given"]
    assert [a["detail"]["language"] for a in audit] == ["cy", "en", "en", "en"]

    bearer = {"Authorization": f"Bearer {created['token']}"}
    url = f"{server.url}/api/family/consent"
    for language, stored in (("cy", "cy"), ("zz", "en")):
        body = {"version": version, "purposes": [], "language": language}
        async with http.post(url, json=body, headers=bearer) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["consent"]["language"] == stored

    # A withdrawal the practitioner writes down has no language of the family's.
    csrf = await login(http, server, "alice")
    async with http.post(
        f"{server.url}/api/cases/{created['case_id']}/consent",
        json={"purposes": [], "how": "letter"},
        headers={"X-CSRF-Token": csrf},
    ) as response:
        assert response.status == 201, await response.text()
        assert (await response.json())["consent"]["language"] is None


async def test_a_notice_in_a_review_comes_with_a_key_the_family_page_has(
    server: RunningServer,
) -> None:
    async with review(server, [(0, 59)]) as r:
        await r.practitioner.wait_for("consent")
        version = server.app[CONSENT_WORDINGS]["cy"]["version"]
        assert (await r.command(action="select", item=0))["type"] == "review-state"
        # The family takes shared review back, answering in Welsh.
        await r.family.send(
            {"type": "consent", "version": version, "purposes": ["analysis"], "language": "cy"}
        )
        state = await r.family.wait_for(
            "review-state", state="empty", notice_code="consent-withdrawn"
        )
        assert "taken back" in state["notice"]  # the English text stays for the practitioner
        for texts in shipped_texts().values():
            assert texts[f"notice.{state['notice_code']}"]
        assert server.app[CONSENTS].current(r.case_id).language == "cy"  # type: ignore[union-attr]


async def test_the_family_page_lists_its_languages_english_first(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/i18n/languages.json") as response:
        assert response.status == 200
        listed = await response.json()
    assert listed["default"] == "en"
    names = {code: texts["language.name"] for code, texts in shipped_texts().items()}
    assert listed["languages"][0] == {"code": "en", "name": "English"}
    assert {(lang["code"], lang["name"]) for lang in listed["languages"]} == set(names.items())


OLD_SCHEMA = """
CREATE TABLE case_consents (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL, session_id TEXT, purposes TEXT NOT NULL,
    wording_version TEXT NOT NULL, given_by TEXT NOT NULL, how TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '', given_at REAL NOT NULL
);
CREATE TABLE consents (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL, session_id TEXT, purposes TEXT NOT NULL,
    wording_version TEXT NOT NULL, given_by TEXT NOT NULL, given_at REAL NOT NULL
);
INSERT INTO case_consents VALUES ('a', 'case', 's1', '["analysis"]', 'v1', 'fam', 'in-call', '', 1);
INSERT INTO case_consents VALUES ('b', 'case', NULL, '[]', 'v1', 'pract', 'letter', 'x', 2);
INSERT INTO consents VALUES ('c', 'case', 's0', '["training"]', 'v0', 'fam', 0.5);
"""


def test_a_data_folder_from_before_languages_keeps_working(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    db.row_factory = sqlite3.Row
    db.executescript(OLD_SCHEMA)
    keyring = Keyring(db, TEST_MASTER_KEY)
    # Free text is sealed by the migrations that run before any store opens (migrations.py).
    for row in db.execute("SELECT id, note FROM case_consents").fetchall():
        sealed = keyring.seal_text("case", row["note"])
        db.execute("UPDATE case_consents SET note = ? WHERE id = ?", (sealed, row["id"]))
    store = ConsentStore(db, keyring)
    # The family's answers were given in English (the only wording there was); a practitioner's
    # entry has no language.
    assert [(c.id, c.language) for c in store.history("case")] == [
        ("c", "en"),
        ("a", "en"),
        ("b", None),
    ]
    store.record("case", ["analysis"], "v2", "fam", session_id="s2", language="cy")
    assert store.current("case").language == "cy"  # type: ignore[union-attr]
    ConsentStore(db, keyring)  # opening it again changes nothing
    assert [c.language for c in ConsentStore(db, keyring).history("case")] == [
        "en",
        "en",
        None,
        "cy",
    ]
