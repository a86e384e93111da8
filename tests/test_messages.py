"""vigremote/messages.py is the one definition of the signalling messages.

These tests hold the server, the generated browser types and the pages to it: web/messages.d.ts
is what the definitions generate; every message real sessions send (filming, recording, a shared
review) has the fields and types defined; every defined browser message reaches its handler and
nothing undefined does; the pages send and handle only defined types.
"""

from __future__ import annotations

import ast
import asyncio
import re
import typing
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Literal

import aiohttp

from tests.conftest import RunningServer
from tests.recording_helpers import call
from tests.review_helpers import review
from vigremote import messages
from vigremote.messages_ts import typescript
from vigremote.rooms import Participant, Room
from vigremote.state import MESSAGE_HANDLERS

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = ".venv/bin/python -m vigremote.messages_ts > web/messages.d.ts"
SERVER = {messages.message_type(m): m for m in typing.get_args(messages.ServerMessage)}
CLIENT = {messages.message_type(m): m for m in typing.get_args(messages.ClientMessage)}


def problems(value: object, hint: Any, where: str) -> list[str]:
    """How a JSON value differs from a type of messages.py (empty: it conforms)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if typing.is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object"]
        fields = typing.get_type_hints(hint)
        out = [f"{where}.{k}: missing" for k in sorted(hint.__required_keys__ - value.keys())]
        out += [f"{where}.{k}: not defined" for k in sorted(value.keys() - fields.keys())]
        for key, item in value.items():
            if key in fields:
                out += problems(item, fields[key], f"{where}.{key}")
        return out
    if origin is UnionType or origin is typing.Union:
        each = [problems(value, a, where) for a in args]
        return [] if [] in each else [p for found in each for p in found]
    if origin is Literal:
        return [] if value in args else [f"{where}: {value!r} is not one of {args}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [p for i, item in enumerate(value) for p in problems(item, args[0], f"{where}[{i}]")]
    kinds: dict[Any, tuple[type, ...]] = {
        str: (str,),
        int: (int,),
        float: (int, float),
        bool: (bool,),
        NoneType: (NoneType,),
    }
    ok = isinstance(value, kinds[hint]) and (hint is bool or not isinstance(value, bool))
    return [] if ok else [f"{where}: {value!r} is not a {hint.__name__}"]


def check_sent(received: list[dict[str, Any]]) -> set[str]:
    """Every message a client received conforms to its definition; returns the types seen."""
    found = []
    for message in received:
        kind = message.get("type")
        if kind not in SERVER:
            found.append(f"undefined message type {kind!r}: {message}")
        else:
            found += problems(message, SERVER[kind], str(kind))
    assert not found, "\n".join(found)
    return {m["type"] for m in received}


def test_web_messages_d_ts_is_generated_from_the_definitions() -> None:
    current = (ROOT / "web" / "messages.d.ts").read_text(encoding="utf-8")
    assert current == typescript(), f"web/messages.d.ts is stale: run {REGENERATE}"


def test_the_definitions_cover_both_directions() -> None:
    assert set(SERVER) == messages.SERVER_TYPES and set(CLIENT) == messages.CLIENT_TYPES
    assert len(SERVER) == len(typing.get_args(messages.ServerMessage))  # no type defined twice
    assert len(CLIENT) == len(typing.get_args(messages.ClientMessage))
    assert "hello" in CLIENT and "welcome" in SERVER and "control" in CLIENT.keys() & SERVER.keys()


def test_the_server_builds_only_defined_messages() -> None:
    """A dict literal with a "type" anywhere in the server names a defined message (openapi.py's
    "type" is JSON Schema's)."""
    undefined = []
    for path in sorted((ROOT / "vigremote").rglob("*.py")):
        if path.name == "openapi.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Dict):
                continue
            for key, value in zip(node.keys, node.values, strict=True):
                named = isinstance(key, ast.Constant) and key.value == "type"
                if named and isinstance(value, ast.Constant) and value.value not in SERVER:
                    undefined.append(f"{path.relative_to(ROOT)}:{node.lineno}: {value.value!r}")
    assert not undefined, undefined


def test_the_pages_send_and_handle_only_defined_messages() -> None:
    """Every type a page sends is a browser message (and every browser message is sent by some
    page); every type protocol.js or a page handles is a server message."""
    sent: set[str] = set()
    handled: set[str] = set()
    for path in sorted((ROOT / "web").glob("*.js")):
        text = path.read_text(encoding="utf-8")
        sent |= set(
            re.findall(r"(?:send\(|ClientMessage\} \*/ const \w+ = )\{ type: '([\w-]+)'", text)
        )
        handled |= set(re.findall(r"message\.type [!=]== '([\w-]+)'", text))
        if path.name == "protocol.js":
            handled |= set(re.findall(r"^\s*case '([\w-]+)':", text, re.MULTILINE))
    assert sent == set(CLIENT), f"sent but not defined: {sent - set(CLIENT)}; never sent: " + str(
        set(CLIENT) - sent
    )
    assert handled and handled <= set(SERVER), handled - set(SERVER)


async def test_every_browser_message_reaches_its_handler_and_nothing_else_does(
    server: RunningServer,
) -> None:
    """Each defined type is answered by its handler (a pong, or that handler's own refusal of
    an empty message), never "unknown-type"; a handler registered for an undefined type is
    never reached."""
    reached: list[str] = []

    async def secret(app: Any, room: Room, participant: Participant, message: Any) -> None:
        reached.append(message["type"])

    server.app[MESSAGE_HANDLERS]["not-in-messages-py"] = secret
    owner = server.add_user("alice")
    session = server.new_session(owner)
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        await ws.send_json({"type": "hello", "version": 1, "token": session["token"]})
        for kind in [*sorted(CLIENT), "not-in-messages-py"]:
            await ws.send_json({"type": kind})
            if kind != "ping":  # a pong marks the end of the replies
                await ws.send_json({"type": "ping"})
            replies: list[dict[str, Any]] = []
            while not replies or replies[-1]["type"] != "pong":
                replies.append(await asyncio.wait_for(ws.receive_json(), 10))
            errors = {m.get("code") for m in replies if m["type"] == "error" and m["about"] == kind}
            if kind == "not-in-messages-py":
                assert errors == {"unknown-type"}, replies
            elif kind != "ping":
                assert errors and "unknown-type" not in errors, (kind, replies)
    assert reached == []


async def test_a_recorded_filming_session_sends_only_defined_messages(
    server: RunningServer,
) -> None:
    async with call(server) as c:
        await c.practitioner.send({"type": "ping"})
        await c.consent(["analysis"])
        await c.practitioner.send({"type": "control", "action": "switch-camera"})
        await c.family.wait_for("control")
        await c.practitioner.send({"type": "muted", "off": ["audio", "video"]})
        await c.family.send({"type": "muted", "off": ["video"]})
        started = await c.record(c.practitioner, "start")
        assert started["state"] == "recording", started
        await c.practitioner.send({"type": "bookmark", "note": "a good moment"})
        await c.practitioner.wait_for("bookmarked")
        assert (await c.record(c.family, "pause"))["state"] == "paused"
        refused = await c.record(c.practitioner, "resume")
        assert refused["type"] == "error", refused
        assert (await c.record(c.family, "resume"))["state"] == "recording"
        assert (await c.record(c.practitioner, "stop"))["state"] == "stopped"
        await c.practitioner.send({"type": "end"})
        await c.family.wait_for("ended")
        await c.practitioner.wait_for("ended")
        seen = check_sent(c.practitioner.messages) | check_sent(c.family.messages)
    family_consent = next(m for m in c.family.messages if m["type"] == "consent")
    assert "wording" in family_consent  # checked against ConsentWording above
    assert seen == set(SERVER) - {"review-state", "driver"}, set(SERVER) - seen


async def test_a_shared_review_sends_only_defined_messages(server: RunningServer) -> None:
    async with review(server, [(0, 29), (30, 59)], still_frames=(10,)) as r:
        for command in (
            {"action": "play"},
            {"action": "pause"},
            {"action": "seek", "frame": 5},
            {"action": "step", "delta": 1},
            {"action": "speed", "speed": 0.5},
            {"action": "loop", "on": True},
            {"action": "select", "item": 2},
            {"action": "select", "item": 0},
        ):
            answer = await r.command(**command)
            assert answer["type"] == "review-state", (command, answer)
        before = len(r.practitioner.messages)
        await r.family.send({"type": "review", "action": "request-pause"})
        asked = await r.practitioner.wait_for_any(("review-state",), after_index=before)
        assert asked["pause_request"] is not None, asked
        await r.command(action="accept-pause")
        seen = check_sent(r.practitioner.messages) | check_sent(r.family.messages)
    assert {"welcome", "participants", "consent", "recording", "review-state"} <= seen
