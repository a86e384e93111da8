"""The REST API's OpenAPI 3.1 document, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vigremote import __version__
from vigremote.governance import api as governance_api
from vigremote.governance import copies as family_copies
from vigremote.supervision import api as supervision_api
from vigremote.supervision import call as supervision_call
from vigremote.supervision import log_api as supervision_log_api

_ERROR = {"$ref": "#/components/responses/Error"}
_CSRF: list[dict[str, list[str]]] = [{"cookie": [], "csrf": []}]


def _op(summary: str, ok: int = 200, body: str | None = None, write: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {str(ok): {"description": "OK", "content": {"application/json": {}}}},
    }
    for status in ("400", "401", "403", "404", "409"):
        op["responses"][status] = _ERROR
    op["security"] = _CSRF if write else [{"cookie": []}]
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    return op


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _analysis_paths() -> dict[str, Any]:
    rec, clip, still = (
        [_path_param("recording_id")],
        [_path_param("clip_id")],
        [_path_param("still_id")],
    )
    return {
        "/api/recordings/{recording_id}": {
            "parameters": rec,
            "get": _op("Open a recording: bookmarks, marks and its frame index", write=False),
            "delete": _op("Delete a recording with everything cut or made from it"),
        },
        "/api/recordings/{recording_id}/media": {
            "parameters": rec,
            "get": _op("The browser-playable copy (Range requests)", write=False),
        },
        "/api/recordings/{recording_id}/thumbnails": {
            "parameters": rec,
            "get": _op("Thumbnail strip description", write=False),
        },
        "/api/recordings/{recording_id}/thumbnails.jpg": {
            "parameters": rec,
            "get": _op("Thumbnail strip image", write=False),
        },
        "/api/recordings/{recording_id}/audio-activity": {
            "parameters": rec,
            "get": _op("Loudness per 100 ms", write=False),
        },
        "/api/recordings/{recording_id}/clips": {
            "parameters": rec,
            "post": _op("Cut a clip at exact frames", ok=201, body="NewClip"),
        },
        "/api/recordings/{recording_id}/stills": {
            "parameters": rec,
            "post": _op("Save the exact frame as a still", ok=201, body="NewStill"),
        },
        "/api/cases/{case_id}/clips": {
            "parameters": [_path_param("case_id")],
            "get": _op("The case's clips, in order", write=False),
        },
        "/api/cases/{case_id}/stills": {
            "parameters": [_path_param("case_id")],
            "get": _op("The case's stills", write=False),
        },
        "/api/clips/{clip_id}": {
            "parameters": clip,
            "get": _op("A clip", write=False),
            "patch": _op("Rename, re-tag, re-trim or move a clip", body="ClipChange"),
            "delete": _op("Delete a clip and its file"),
        },
        "/api/clips/{clip_id}/poster.png": {
            "parameters": clip,
            "get": _op("The clip's first frame", write=False),
        },
        "/api/clips/{clip_id}/media": {
            "parameters": clip,
            "get": _op("The clip's file", write=False),
        },
        "/api/stills/{still_id}/image.png": {
            "parameters": still,
            "get": _op("A still", write=False),
        },
        "/api/stills/{still_id}": {"parameters": still, "delete": _op("Delete a still")},
        "/api/recordings/{recording_id}/timeline": {
            "parameters": rec,
            "get": _op("A recorded review: cameras, playback events, chapters", write=False),
        },
        "/api/recordings/{recording_id}/segments/{seq}/media": {
            "parameters": [*rec, _path_param("seq")],
            "get": _op("One camera file of a recording", write=False),
        },
        "/api/cases/{case_id}/review-items": {
            "parameters": [_path_param("case_id")],
            "get": _op("Clips and stills, and whether consent lets them be reviewed", write=False),
        },
        "/api/cases/{case_id}/reviews": {
            "parameters": [_path_param("case_id")],
            "post": _op("Create a shared review with its playlist", ok=201, body="NewReview"),
        },
        "/api/sessions/{session_id}/playlist": {
            "parameters": [_path_param("session_id")],
            "get": _op("A shared review's playlist", write=False),
        },
        "/api/tags": {
            "get": _op("The organisation's tag vocabulary", write=False),
            "put": _op("Replace the tag vocabulary (admin)", body="Tags"),
        },
    }


def _consent_paths() -> dict[str, Any]:
    family_get = _op("The family's consent and its wording (the family's link)", write=False)
    family_post = _op("The family withdraws consent, during or after the call", body="Purposes")
    # The family's link is a bearer token sent by script, never a cookie: no CSRF to guard.
    for op in (family_get, family_post):
        op["security"] = [{"familyLink": []}]
    # The wording in the family's language (web/i18n; one not shipped gives English).
    language = {"name": "language", "in": "query", "required": False, "schema": {"type": "string"}}
    family_get["parameters"] = [language]
    return {
        "/api/family/consent": {"get": family_get, "post": family_post},
        "/api/cases/{case_id}/consent": {
            "parameters": [_path_param("case_id")],
            "get": _op("The family's current consent and its history", write=False),
            "post": _op(
                "Record a withdrawal the family made by phone, letter, email or in person",
                ok=201,
                body="Withdrawal",
            ),
        },
    }


def document() -> dict[str, Any]:
    case_id, session_id = [_path_param("case_id")], [_path_param("session_id")]
    login = _op("Log in; sets the session cookie and returns the CSRF token", body="Login")
    login["security"] = []
    login["responses"]["415"] = _ERROR  # the body must be JSON (no form or text/plain logins)
    login["responses"]["429"] = _ERROR  # throttled: too many attempts, see Retry-After
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vigremote",
            "version": __version__,
            "description": (
                "REST API of vigremote. Live signalling uses the WebSocket at /ws "
                "(handshake {type: hello, version: 1, token}). State-changing requests need "
                "the X-CSRF-Token header returned by /api/login or /api/me."
            ),
        },
        "paths": {
            "/api/login": {"post": login},
            "/api/logout": {"post": _op("Log out")},
            "/api/me": {"get": _op("The logged-in user and CSRF token", write=False)},
            "/api/cases": {
                "get": _op("The practitioner's own cases", write=False),
                "post": _op("Create a case for a family", ok=201, body="NewCase"),
            },
            "/api/cases/{case_id}": {
                "parameters": case_id,
                "get": _op("A case and its sessions", write=False),
                "delete": _op("Erase the case and everything of it", body="EraseCase"),
            },
            "/api/cases/{case_id}/sessions": {
                "parameters": case_id,
                "post": _op("Create a filming session and its family link", ok=201),
            },
            "/api/cases/{case_id}/recordings": {
                "parameters": case_id,
                "get": _op("The case's recordings with bookmarks, consent and status", write=False),
            },
            **_analysis_paths(),
            **_consent_paths(),
            **governance_api.openapi_paths(_op, _path_param),
            **family_copies.openapi_paths(_op, _path_param),
            **supervision_api.openapi_paths(_op, _path_param),
            **supervision_log_api.openapi_paths(_op, _path_param),
            **supervision_call.openapi_paths(_op, _path_param),
            "/api/sessions/{session_id}": {
                "parameters": session_id,
                "get": _op("A session and who is in it now", write=False),
            },
            "/api/sessions/{session_id}/family-link": {
                "parameters": session_id,
                "post": _op("Issue a fresh family link (revokes older ones); with its short form"),
            },
            "/api/sessions/{session_id}/family-link.svg": {
                "parameters": session_id,
                "get": _op("QR code (SVG) of the current short family link", write=False),
            },
            "/api/sessions/{session_id}/join-token": {
                "parameters": session_id,
                "post": _op("A token for the practitioner's signalling socket"),
            },
            "/api/sessions/{session_id}/end": {
                "parameters": session_id,
                "post": _op("End the session for everyone"),
            },
        },
        "components": {
            "securitySchemes": {
                "cookie": {"type": "apiKey", "in": "cookie", "name": "vig_login"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                "familyLink": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "schemas": {
                "Hold": {
                    "type": "object",
                    "required": ["reason"],
                    "properties": {"reason": {"type": "string", "maxLength": 500}},
                },
                "EraseCase": {
                    "type": "object",
                    "required": ["confirm"],
                    "properties": {"confirm": {"type": "string", "description": "the label"}},
                },
                "Login": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                },
                "NewCase": {
                    "type": "object",
                    "required": ["label"],
                    "properties": {"label": {"type": "string", "maxLength": 80}},
                },
                "NewClip": {
                    "type": "object",
                    "required": ["first", "last", "title"],
                    "properties": {
                        "first": {"type": "integer", "minimum": 0},
                        "last": {"type": "integer", "minimum": 0},
                        "title": {"type": "string", "maxLength": 120},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "notes": {"type": "string", "maxLength": 2000},
                    },
                },
                "ClipChange": {
                    "type": "object",
                    "properties": {
                        "first": {"type": "integer"},
                        "last": {"type": "integer"},
                        "title": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "notes": {"type": "string"},
                        "position": {"type": "integer"},
                    },
                },
                "NewStill": {
                    "type": "object",
                    "required": ["frame"],
                    "properties": {
                        "frame": {"type": "integer", "minimum": 0},
                        "caption": {"type": "string", "maxLength": 300},
                    },
                },
                "NewReview": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "kind": {"enum": ["clip", "still"]},
                                    "id": {"type": "string"},
                                },
                            },
                        }
                    },
                },
                "Purposes": {
                    "type": "object",
                    "required": ["version", "purposes"],
                    "properties": {
                        "version": {"type": "string"},
                        "purposes": {"type": "array", "items": {"type": "string"}},
                        "language": {"type": "string"},
                    },
                },
                "Withdrawal": {
                    "type": "object",
                    "required": ["purposes", "how"],
                    "properties": {
                        "purposes": {"type": "array", "items": {"type": "string"}},
                        "how": {"enum": ["phone", "letter", "email", "in-person"]},
                        "note": {"type": "string", "maxLength": 500},
                    },
                },
                "Tags": {
                    "type": "object",
                    "required": ["tags"],
                    "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
            },
            "responses": {
                "Error": {
                    "description": "An error a person can read",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
        },
    }


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", serve)
