"""REST routes for governance: close a case, legal holds, deletion dates, export, erasure, audit.

Who may do what:
- the case's practitioner: close/reopen it, see its deletion dates and who has seen its films,
  put it on legal hold or lift the hold, export it, erase it;
- an admin: the same for any case (holds, export and erasure are often a records officer's
  task), and the organisation's whole audit trail, filtered.
Every one of these is audited; erasure asks for the case's label as confirmation.
"""

from __future__ import annotations

import asyncio
import time
from typing import IO, Any, cast

from aiohttp import web

from vigremote.accounts import current_user
from vigremote.cases import case_for_records_work
from vigremote.governance import retention
from vigremote.governance.erasure import OnLegalHold, StillLive, erase_case
from vigremote.governance.export import actor_name, case_audit, export_case
from vigremote.httpjson import error, read_json, text_field
from vigremote.paths import case_dir
from vigremote.records import Records
from vigremote.state import CONFIG, RECORDS, STORE, VAULT
from vigremote.storage import Case, new_id
from vigremote.vault.serve import sealed_response

# What counts as someone seeing a family's films (the "who has seen" list).
VIEWS = (
    "recording-opened",
    "recording-media-served",
    "review-recording-served",
    "clip-viewed",
    "still-viewed",
    "clip-shown-in-review",
    "still-shown-in-review",
    "case-exported",
    "export-downloaded",
)


def _case(request: web.Request) -> Case:
    """The case in the URL, if the asker is its practitioner or an admin (403, audited)."""
    user = current_user(request)
    return case_for_records_work(request.app[STORE], user, request.match_info["case_id"])


async def governance(request: web.Request) -> web.Response:
    """The case's closing, hold, deletion dates and warnings, for the case page."""
    case = _case(request)
    records, config = request.app[RECORDS], request.app[CONFIG]
    due = retention.due_of_case(records, config, case)  # read once, shown three ways
    return web.json_response(
        {
            "case": case.to_json(),
            "deletes": retention.deletion_dates(due),
            "due": [d.to_json() | _started(records, d) for d in due],
            "warnings": [d.to_json() for d in retention.due_soon(due, config, case)],
            "warn_days": config.retention_warn_days,
            "downloads_allowed": config.downloads_allowed,
        }
    )


def _started(records: Records, due: retention.Due) -> dict[str, float]:
    """When a recording that is due began (the page names it by its date)."""
    if due.kind != "recording":
        return {}
    return {"started_at": records.recordings.get(due.id).started_at}


async def close_case(request: web.Request) -> web.Response:
    case = _case(request)
    store = request.app[STORE]
    case = store.set_case_closed(case.id, time.time())
    store.audit(current_user(request).id, "case-closed", f"case:{case.id}")
    return web.json_response({"case": case.to_json()})


async def reopen_case(request: web.Request) -> web.Response:
    case = _case(request)
    store = request.app[STORE]
    case = store.set_case_closed(case.id, None)
    store.audit(current_user(request).id, "case-reopened", f"case:{case.id}")
    return web.json_response({"case": case.to_json()})


async def place_hold(request: web.Request) -> web.Response:
    """{"reason"}: nothing of the case is deleted until the hold is lifted."""
    case = _case(request)
    reason = text_field(await read_json(request), "reason", 500)
    user = current_user(request)
    store = request.app[STORE]
    hold = {"reason": reason, "by": user.display_name, "at": time.time()}
    case = store.set_legal_hold(case.id, hold)
    store.audit(user.id, "legal-hold-placed", f"case:{case.id}")
    return web.json_response({"case": case.to_json()})


async def lift_hold(request: web.Request) -> web.Response:
    case = _case(request)
    store = request.app[STORE]
    case = store.set_legal_hold(case.id, None)
    store.audit(current_user(request).id, "legal-hold-lifted", f"case:{case.id}")
    return web.json_response({"case": case.to_json()})


async def create_export(request: web.Request) -> web.Response:
    """Build the family's archive (sealed while it waits for its download, a day at most)."""
    case = _case(request)
    records, vault = request.app[RECORDS], request.app[VAULT]
    data_dir = request.app[CONFIG].data_dir
    export_id = new_id()
    folder = case_dir(data_dir, case.id) / "exports"
    folder.mkdir(mode=0o700, exist_ok=True)
    target = folder / f"{export_id}.zip"

    def work() -> dict[str, int]:
        tmp = target.with_name(target.name + ".part")
        try:
            with vault.create_replacing(tmp) as sink:
                summary = export_case(records, data_dir, case.id, cast(IO[bytes], sink))
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return summary

    summary = await asyncio.to_thread(work)
    request.app[STORE].audit(
        current_user(request).id, "case-exported", f"case:{case.id}", export=export_id, **summary
    )
    url = f"/api/cases/{case.id}/exports/{export_id}"
    return web.json_response({"download_url": url, "contents": summary}, status=201)


async def download_export(request: web.Request) -> web.StreamResponse:
    case = _case(request)
    export_id = request.match_info["export_id"]
    folder = case_dir(request.app[CONFIG].data_dir, case.id) / "exports"
    try:
        path = folder / f"{_server_id(export_id)}.zip"
    except ValueError:
        raise error(404, "not-found", "no such export") from None
    if not path.exists():
        raise error(404, "not-found", "no such export (exports are kept for a day)")
    request.app[STORE].audit(
        current_user(request).id, "export-downloaded", f"case:{case.id}", export=export_id
    )
    name = f"vigremote-case-{case.id}.zip"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "private, no-store",
    }
    return await sealed_response(request, request.app[VAULT], path, headers)


def _server_id(value: str) -> str:
    if not value.replace("-", "").replace("_", "").isalnum() or not 8 <= len(value) <= 64:
        raise ValueError("not a server id")
    return value


async def erase(request: web.Request) -> web.Response:
    """{"confirm": the case's label}: erase everything of the case, now."""
    case = _case(request)
    body = await read_json(request)
    if body.get("confirm") != case.label:
        raise error(400, "confirm", "type the case's name exactly to confirm the erasure")
    try:
        erased = await erase_case(request.app, case.id, current_user(request).id, "on request")
    except OnLegalHold as exc:
        raise error(409, "legal-hold", str(exc)) from None
    except StillLive as exc:
        raise error(409, "still-live", str(exc)) from None
    return web.json_response({"erased": case.id} | erased.to_json())


async def who_has_seen(request: web.Request) -> web.Response:
    """Every view of this family's material: who, what, when."""
    case = _case(request)
    entries = [e for e in case_audit(request.app[RECORDS], case.id) if e["action"] in VIEWS]
    return web.json_response({"views": entries})


async def deleted_soon(request: web.Request) -> web.Response:
    """My cases with something due for deletion within the warning period (the cases list
    shows them, so the warning reaches the practitioner before they open the case)."""
    user = current_user(request)
    records, config = request.app[RECORDS], request.app[CONFIG]
    soon = {}
    for case in records.store.cases_of(user.id):
        due = retention.warnings(records, config, case)
        if due:
            soon[case.id] = min(d.at for d in due)
    return web.json_response({"cases": soon, "warn_days": config.retention_warn_days})


async def audit_list(request: web.Request) -> web.Response:
    """The organisation's audit trail (admins): ?actor= &action= &object= &since= &until=
    &limit= (newest first, 200 unless said)."""
    user = current_user(request)
    if user.role != "admin":
        request.app[STORE].audit(user.id, "access-denied", "audit")
        raise error(403, "forbidden", "only an admin can read the audit trail")
    query = request.query
    try:
        since = float(query.get("since", 0))
        until = float(query.get("until", time.time() + 1))
        limit = max(1, min(int(query.get("limit", 200)), 5000))
    except ValueError:
        raise error(
            400, "bad-field", "since, until (epoch seconds) and limit must be numbers"
        ) from None
    wanted: dict[str, Any] = {k: query[k] for k in ("actor", "action", "object") if query.get(k)}
    entries = [
        entry
        for entry in reversed(request.app[STORE].audit_trail())
        if since <= entry["at"] < until and all(entry[k] == v for k, v in wanted.items())
    ][:limit]
    records, names = request.app[RECORDS], dict[str, str]()
    entries = [e | {"actor_name": actor_name(records, e["actor"], names)} for e in entries]
    request.app[STORE].audit(user.id, "audit-read", "audit", filters=wanted)
    return web.json_response({"entries": entries})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/cases/{case_id}/governance", governance)
    app.router.add_post("/api/cases/{case_id}/close", close_case)
    app.router.add_post("/api/cases/{case_id}/reopen", reopen_case)
    app.router.add_put("/api/cases/{case_id}/legal-hold", place_hold)
    app.router.add_delete("/api/cases/{case_id}/legal-hold", lift_hold)
    app.router.add_post("/api/cases/{case_id}/exports", create_export)
    app.router.add_get("/api/cases/{case_id}/exports/{export_id}", download_export)
    app.router.add_delete("/api/cases/{case_id}", erase)
    app.router.add_get("/api/cases/{case_id}/views", who_has_seen)
    app.router.add_get("/api/audit", audit_list)
    app.router.add_get("/api/retention/soon", deleted_soon)


def openapi_paths(op: Any, param: Any) -> dict[str, Any]:
    """This module's routes for /api/openapi.json (`op`, `param`: openapi.py's builders)."""
    case, export = [param("case_id")], [param("case_id"), param("export_id")]
    return {
        "/api/cases/{case_id}/governance": {
            "parameters": case,
            "get": op("Closing, legal hold, deletion dates and warnings", write=False),
        },
        "/api/cases/{case_id}/close": {"parameters": case, "post": op("Close the case")},
        "/api/cases/{case_id}/reopen": {"parameters": case, "post": op("Reopen the case")},
        "/api/cases/{case_id}/legal-hold": {
            "parameters": case,
            "put": op("Put the case on legal hold (stops every deletion)", body="Hold"),
            "delete": op("Lift the legal hold"),
        },
        "/api/cases/{case_id}/exports": {
            "parameters": case,
            "post": op("Export everything of the case as one archive", ok=201),
        },
        "/api/cases/{case_id}/exports/{export_id}": {
            "parameters": export,
            "get": op("Download an export (kept a day)", write=False),
        },
        "/api/cases/{case_id}/views": {
            "parameters": case,
            "get": op("Who has seen this family's films", write=False),
        },
        "/api/audit": {"get": op("The audit trail, filtered (admins)", write=False)},
        "/api/retention/soon": {
            "get": op("My cases with something to be deleted soon, and when", write=False)
        },
    }
