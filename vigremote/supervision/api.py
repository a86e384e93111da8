"""REST routes for supervision: links (admins), shares (trainees), shared items and comments.

Who sees a share, checked on every request:
- the trainee who made it;
- their supervisor *now* (a share "to my supervisor" follows the current link: a supervisor who
  no longer supervises the trainee sees nothing of theirs), or the members of the peer group it
  went to;
- and only while the family's current consent allows supervision (consent/policy.py, use
  "supervise"): a withdrawal takes the item out of every list at once.
A supervisor never sees a case label: the family is "Family N" (the trainee's N-th case).
Every view of shared media and every refusal is audited.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from vigremote.accounts import current_user
from vigremote.cases import owned_case
from vigremote.clips.analysis_api import first_request_of_a_play
from vigremote.clips.frames import cached_index
from vigremote.consent import policy
from vigremote.consent.access import current_purposes, recording_kind
from vigremote.httpjson import error, read_json, text_field
from vigremote.paths import case_dir, recording_dir
from vigremote.state import CLIPS, CONFIG, RECORDINGS, STORE, SUPERVISION, VAULT
from vigremote.storage import NotFound, User
from vigremote.supervision.store import KINDS, SUPERVISOR, TAGS, Share, account_with_role
from vigremote.vault.serve import sealed_response

USE = "supervise"


@dataclass(frozen=True)
class SharedItem:
    """What a share shows: its title, its files (a review recording has one per camera), and
    the recording it comes from (whose consent governs it)."""

    title: str
    files: list[Path]
    recording_id: str


def shared_item(app: web.Application, kind: str, item_id: str) -> SharedItem:
    data = app[CONFIG].data_dir
    if kind == "clip":
        clip = app[CLIPS].clip(item_id)
        return SharedItem(
            clip.title, [case_dir(data, clip.case_id) / "clips" / clip.file_name], clip.recording_id
        )
    if kind == "still":
        still = app[CLIPS].still(item_id)
        path = case_dir(data, still.case_id) / "stills" / still.file_name
        return SharedItem(
            still.caption or f"Still (frame {still.frame})", [path], still.recording_id
        )
    recording = app[RECORDINGS].get(item_id)
    if recording_kind(app, recording) != "review":
        raise error(400, "bad-field", "only a recorded shared review can be shared as a recording")
    folder = recording_dir(data, recording.case_id, recording.id)
    files = [folder / name for name in app[RECORDINGS].segments(recording.id)]
    when = time.strftime("%d %b %Y", time.localtime(recording.started_at))
    return SharedItem(f"Recorded shared review, {when}", files, recording.id)


def consent_allows(app: web.Application, case_id: str, item: SharedItem) -> bool:
    recording = app[RECORDINGS].get(item.recording_id)
    return policy.allows(current_purposes(app, case_id), recording_kind(app, recording), USE)


def can_see(app: web.Application, user: User, share: Share) -> bool:
    if share.withdrawn_at is not None:
        return False
    supervision = app[SUPERVISION]
    if user.id == share.trainee_id:
        allowed = True
    elif share.audience == SUPERVISOR:
        allowed = supervision.supervisor_of(share.trainee_id) == user.id
    else:
        group = share.group_id
        allowed = group is not None and user.id in supervision.group_members(group)
    if not allowed:
        return False
    try:
        return consent_allows(app, share.case_id, shared_item(app, share.kind, share.item_id))
    except NotFound:
        return False  # the item was deleted since


def family_pseudonym(app: web.Application, share: Share) -> str:
    by_age = sorted(app[STORE].cases_of(share.trainee_id), key=lambda c: c.created_at)
    cases = [c.id for c in by_age]
    number = cases.index(share.case_id) + 1 if share.case_id in cases else 0
    return f"Family {number}"


def _visible_share(request: web.Request) -> tuple[User, Share, SharedItem]:
    user = current_user(request)
    share = request.app[SUPERVISION].get_share(request.match_info["share_id"])
    if not can_see(request.app, user, share):
        request.app[STORE].audit(user.id, "access-denied", f"share:{share.id}")
        raise error(403, "forbidden", "this item is not shared with you (or no longer)")
    return user, share, shared_item(request.app, share.kind, share.item_id)


def _share_json(app: web.Application, user: User, share: Share, item: SharedItem) -> dict[str, Any]:
    trainee = app[STORE].user(share.trainee_id)
    return {
        "id": share.id,
        "kind": share.kind,
        "title": item.title,
        "family": family_pseudonym(app, share),
        "trainee": {"id": trainee.id, "name": trainee.display_name},
        "audience": share.audience,
        "created_at": share.created_at,
        "mine": share.trainee_id == user.id,
        "media": [f"/api/shares/{share.id}/media/{n}" for n in range(len(item.files))],
    }


# -- admins: who supervises whom -----------------------------------------------------------
def _admin(request: web.Request) -> User:
    user = current_user(request)
    if user.role != "admin":
        request.app[STORE].audit(user.id, "access-denied", "supervision-links")
        raise error(403, "forbidden", "only an admin links trainees and supervisors")
    return user


def _account(request: web.Request, username: object, role: str) -> User:
    try:
        return account_with_role(request.app[STORE], username, role)
    except ValueError as exc:
        raise error(400, "bad-field", str(exc)) from None


async def create_link(request: web.Request) -> web.Response:
    """{"trainee": username, "supervisor": username}: the trainee's previous link ends."""
    admin = _admin(request)
    body = await read_json(request)
    trainee = _account(request, body.get("trainee"), "practitioner")
    supervisor = _account(request, body.get("supervisor"), "supervisor")
    link = request.app[SUPERVISION].link(trainee.id, supervisor.id, admin.id)
    request.app[STORE].audit(
        admin.id, "supervision-linked", f"user:{trainee.id}", supervisor=supervisor.id
    )
    return web.json_response({"link": link.to_json()}, status=201)


async def list_links(request: web.Request) -> web.Response:
    _admin(request)
    store = request.app[STORE]
    links = [
        link.to_json()
        | {
            "trainee": store.user(link.trainee_id).display_name,
            "supervisor": store.user(link.supervisor_id).display_name,
        }
        for link in request.app[SUPERVISION].links()
    ]
    return web.json_response({"links": links})


async def create_group(request: web.Request) -> web.Response:
    """{"name", "members": [usernames of trainees]}: a peer-supervision group."""
    admin = _admin(request)
    body = await read_json(request)
    name = text_field(body, "name", 80)
    members = body.get("members")
    if not isinstance(members, list) or not 2 <= len(members) <= 12:
        raise error(400, "bad-field", "'members' must list 2 to 12 trainees' usernames")
    ids = [_account(request, m, "practitioner").id for m in members]
    group_id = request.app[SUPERVISION].add_group(name, ids)
    request.app[STORE].audit(admin.id, "peer-group-made", f"group:{group_id}", members=ids)
    return web.json_response({"group": {"id": group_id, "name": name}}, status=201)


# -- everyone: my place in supervision -------------------------------------------------------
async def my_supervision(request: web.Request) -> web.Response:
    user = current_user(request)
    supervision, store = request.app[SUPERVISION], request.app[STORE]
    supervisor = supervision.supervisor_of(user.id)
    return web.json_response(
        {
            "supervisor": store.user(supervisor).display_name if supervisor else None,
            "groups": supervision.groups_of(user.id),
            "trainees": [
                {"id": t, "name": store.user(t).display_name}
                for t in supervision.trainees_of(user.id)
            ],
        }
    )


# -- trainees: sharing -------------------------------------------------------------------
async def create_share(request: web.Request) -> web.Response:
    """{"kind": clip|still|recording, "id", "to": "supervisor" | "group:<id>"}."""
    user = current_user(request)
    body = await read_json(request)
    kind, item_id, to = body.get("kind"), body.get("id"), body.get("to", SUPERVISOR)
    if kind not in KINDS or not isinstance(item_id, str) or not isinstance(to, str):
        raise error(400, "bad-field", "'kind' (clip, still, recording), 'id' and 'to' are needed")
    app, supervision = request.app, request.app[SUPERVISION]
    try:
        item = shared_item(app, kind, item_id)
        case_id = app[RECORDINGS].get(item.recording_id).case_id
    except NotFound:
        raise error(404, "not-found", f"no such {kind}") from None
    owned_case(app[STORE], user, case_id)
    if to == SUPERVISOR and supervision.supervisor_of(user.id) is None:
        raise error(409, "no-supervisor", "you have no supervisor yet: ask your admin")
    if to != SUPERVISOR and to.removeprefix("group:") not in [
        g["id"] for g in supervision.groups_of(user.id)
    ]:
        raise error(400, "bad-field", "'to' must be 'supervisor' or one of your peer groups")
    if not consent_allows(app, case_id, item):
        app[STORE].audit(user.id, "share-refused", f"{kind}:{item_id}", why="no consent")
        raise error(
            403, "no-consent", "the family has not agreed to their films being used in supervision"
        )
    share = supervision.share(user.id, case_id, kind, item_id, to)
    app[STORE].audit(user.id, "shared", f"{kind}:{item_id}", share=share.id, to=to)
    return web.json_response({"share": _share_json(app, user, share, item)}, status=201)


async def withdraw_share(request: web.Request) -> web.Response:
    user = current_user(request)
    share = request.app[SUPERVISION].get_share(request.match_info["share_id"])
    if share.trainee_id != user.id:
        request.app[STORE].audit(user.id, "access-denied", f"share:{share.id}")
        raise error(403, "forbidden", "only the trainee who shared it can withdraw it")
    request.app[SUPERVISION].withdraw(share.id)
    request.app[STORE].audit(user.id, "share-withdrawn", f"share:{share.id}")
    return web.json_response({"withdrawn": share.id})


# -- shared items, their media and comments ----------------------------------------------------
async def list_shares(request: web.Request) -> web.Response:
    """Everything shared with me (or by me) that I may see now."""
    user, app = current_user(request), request.app
    found = []
    for share in app[SUPERVISION].shares():
        if can_see(app, user, share):
            found.append(_share_json(app, user, share, shared_item(app, share.kind, share.item_id)))
    return web.json_response({"shares": found})


async def get_share(request: web.Request) -> web.Response:
    user, share, item = _visible_share(request)
    body = _share_json(request.app, user, share, item)
    vault = request.app[VAULT]
    if share.kind != "still":  # frame-exact comments: the frames' times in the first file
        index = await asyncio.to_thread(cached_index, vault, item.files[0])
        body["frames"] = index.to_json()
    store = request.app[STORE]
    body["comments"] = [
        c.to_json()
        | {"author": store.user(c.author_id).display_name, "editable": c.author_id == user.id}
        for c in request.app[SUPERVISION].comments(share.id)
    ]
    store.audit(user.id, "share-opened", f"share:{share.id}")
    return web.json_response(body)


async def share_media(request: web.Request) -> web.StreamResponse:
    user, share, item = _visible_share(request)
    try:
        path = item.files[int(request.match_info["n"])]
    except (ValueError, IndexError):
        raise error(404, "not-found", "no such file in this share") from None
    if first_request_of_a_play(request):
        request.app[STORE].audit(user.id, "share-viewed", f"share:{share.id}", file=path.name)
    headers = {"Cache-Control": "private, no-store"}
    return await sealed_response(request, request.app[VAULT], path, headers)


def _comment_fields(body: dict[str, Any], tag_needed: bool) -> tuple[str | None, str | None]:
    tag = body.get("tag")
    if (tag_needed or tag is not None) and tag not in TAGS:
        raise error(400, "bad-field", f"'tag' must be one of {', '.join(TAGS)}")
    text = text_field(body, "text", 2000) if tag_needed or "text" in body else None
    return tag, text


async def add_comment(request: web.Request) -> web.Response:
    """{"frame", "tag", "text"}: a comment on one frame of the shared item."""
    user, share, _ = _visible_share(request)
    body = await read_json(request)
    frame = body.get("frame", 0)
    if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
        raise error(400, "bad-field", "'frame' must be a frame number (0 or more)")
    tag, text = _comment_fields(body, tag_needed=True)
    assert tag is not None and text is not None
    comment = request.app[SUPERVISION].add_comment(share, user.id, frame, tag, text)
    request.app[STORE].audit(user.id, "comment-added", f"share:{share.id}", comment=comment.id)
    return web.json_response({"comment": comment.to_json()}, status=201)


async def edit_comment(request: web.Request) -> web.Response:
    user = current_user(request)
    supervision = request.app[SUPERVISION]
    comment = supervision.comment(request.match_info["comment_id"])
    share = supervision.get_share(comment.share_id)
    if comment.author_id != user.id or not can_see(request.app, user, share):
        request.app[STORE].audit(user.id, "access-denied", f"comment:{comment.id}")
        raise error(403, "forbidden", "only its author can change a comment")
    tag, text = _comment_fields(await read_json(request), tag_needed=False)
    edited = supervision.edit_comment(
        comment, share.case_id, tag or comment.tag, comment.text if text is None else text
    )
    return web.json_response({"comment": edited.to_json()})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/supervision/links", create_link)
    app.router.add_get("/api/supervision/links", list_links)
    app.router.add_post("/api/supervision/groups", create_group)
    app.router.add_get("/api/supervision/me", my_supervision)
    app.router.add_post("/api/shares", create_share)
    app.router.add_get("/api/shares", list_shares)
    app.router.add_get("/api/shares/{share_id}", get_share)
    app.router.add_delete("/api/shares/{share_id}", withdraw_share)
    app.router.add_get("/api/shares/{share_id}/media/{n}", share_media)
    app.router.add_post("/api/shares/{share_id}/comments", add_comment)
    app.router.add_patch("/api/comments/{comment_id}", edit_comment)


def openapi_paths(op: Any, param: Any) -> dict[str, Any]:
    """This module's routes for /api/openapi.json (`op`, `param`: openapi.py's builders)."""
    share = [param("share_id")]
    return {
        "/api/supervision/links": {
            "get": op("Who supervises whom, with history (admins)", write=False),
            "post": op("Link a trainee to a supervisor (admins)", ok=201),
        },
        "/api/supervision/groups": {"post": op("Make a peer-supervision group (admins)", ok=201)},
        "/api/supervision/me": {"get": op("My supervisor, trainees and groups", write=False)},
        "/api/shares": {
            "get": op("What is shared with me (or by me) and may be seen now", write=False),
            "post": op(
                "Share a clip, still or recorded review (family consent permitting)", ok=201
            ),
        },
        "/api/shares/{share_id}": {
            "parameters": share,
            "get": op("A shared item, its frames and comments", write=False),
            "delete": op("Withdraw a share (its trainee)"),
        },
        "/api/shares/{share_id}/media/{n}": {
            "parameters": [*share, param("n")],
            "get": op("A shared item's media (ranges)", write=False),
        },
        "/api/shares/{share_id}/comments": {
            "parameters": share,
            "post": op("Comment on a frame of a shared item", ok=201),
        },
        "/api/comments/{comment_id}": {
            "parameters": [param("comment_id")],
            "patch": op("Edit my comment"),
        },
    }
