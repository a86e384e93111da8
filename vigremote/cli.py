"""The `vigremote` command: run the server, and the scripting/operations subcommands."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import logging
import os
import secrets
import ssl
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from vigremote.app import create_app
from vigremote.audit import AUDIT_SEAL_KEY, verify
from vigremote.auth import Passwords, TokenSigner
from vigremote.cases import open_session
from vigremote.config import Config, IceServer, TurnSettings, load_secret
from vigremote.governance import commands as governance_commands
from vigremote.keys import MasterKeyError, derive, load_master_key, new_key_text
from vigremote.records import open_records
from vigremote.storage import ROLES_WITH_ACCOUNTS, Conflict, Store
from vigremote.supervision import commands as supervision_commands
from vigremote.workers import serve_worker, serve_workers

DEMO_USER = "demo"


def _config(args: argparse.Namespace) -> Config:
    ice = tuple(
        IceServer(url, args.ice_username, args.ice_credential)
        if url.startswith("turn")
        else IceServer(url)
        for url in args.ice_server
    )
    return Config(
        master_key=_master_key(args),
        turn=_turn(args),
        data_dir=Path(args.data).resolve(),
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        ice_servers=ice,
        redis_url=args.redis_url,
        secure_cookies=bool(getattr(args, "cert", None))
        or (args.public_url or "").startswith("https:"),
        # The organisation's own sentences for families; unset ones keep Config's defaults.
        retention_text=(args.retention_text or "").strip() or Config.retention_text,
        contact_text=(args.org_contact or "").strip() or Config.contact_text,
        retain_raw_days_after_review=args.retain_raw_days,
        retain_days_after_close=args.retain_days_after_close,
        retain_review_recording_days=args.retain_review_days,
        retain_audit_days=args.retain_audit_days,
        downloads_allowed=args.allow_downloads,
        family_copies_days=args.family_copies_days,
        sds_scale_file=Path(args.sds_scale) if args.sds_scale else None,
        accreditation_file=Path(args.accreditation) if args.accreditation else None,
    )


def _turn(args: argparse.Namespace) -> TurnSettings | None:
    """TURN with coturn's shared secret (`use-auth-secret`): from the environment, a file or the
    command line (where other users of the machine can read it in the process list)."""
    secret = os.environ.get("VIGREMOTE_TURN_SECRET", "")
    if args.turn_secret_file:
        secret = Path(args.turn_secret_file).read_text(encoding="utf-8").strip()
    secret = args.turn_secret or secret
    if not secret:
        if args.turn_url:
            raise SystemExit(
                "--turn-url needs a TURN secret (VIGREMOTE_TURN_SECRET, --turn-secret-file)"
            )
        return None
    try:
        return TurnSettings(tuple(args.turn_url), secret, args.turn_ttl)
    except ValueError as exc:
        raise SystemExit(f"TURN: {exc}") from None


def _master_key(args: argparse.Namespace) -> bytes:
    key_file = Path(args.master_key_file) if args.master_key_file else None
    try:
        return load_master_key(Path(args.data), key_file)
    except MasterKeyError as exc:
        raise SystemExit(f"master key: {exc}") from None


def _open_store(config: Config) -> Store:
    return open_records(config).store


def _workers(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of processes, or 'auto'") from None
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError("between 1 and 64 processes")
    return count


def cmd_serve(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.demo:
        print(json.dumps(_demo(config), indent=2), flush=True)
    if args.workers > 1:
        print(f"vigremote listening on {config.base_url}  (data: {config.data_dir})", flush=True)
        return serve_workers(args.argv[1:], args.workers, config.redis_url)
    if args.worker_id:
        return serve_worker(
            config, args.worker_id, args.advertise_host, args.internal_port, _event_loop()
        )
    ssl_context = None
    if args.cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.cert, args.key)
    print(f"vigremote listening on {config.base_url}  (data: {config.data_dir})", flush=True)
    web.run_app(
        create_app(config),
        loop=_event_loop(),
        host=config.host,
        port=config.port,
        ssl_context=ssl_context,
        print=None,
        access_log=None,
    )
    return 0


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where available: every RTP packet passes through the loop, and uvloop's lower
    per-event cost is most of a session's fixed CPU (measured with bench/recording.py)."""
    try:
        import uvloop
    except ImportError:  # not on this platform: the standard loop works the same
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def _demo(config: Config) -> dict[str, Any]:
    """A demo practitioner (fresh password each start), a demo case and a session to join."""
    store = _open_store(config)
    try:
        passwords = Passwords()
        password = secrets.token_urlsafe(9)
        user = store.user_by_name(DEMO_USER)
        if user is None:
            user = store.add_user(
                DEMO_USER, "Demo Practitioner", "practitioner", passwords.hash(password)
            )
        else:
            store.set_password_hash(user.id, passwords.hash(password))
        cases = store.cases_of(user.id)
        case = cases[0] if cases else store.add_case(user.id, "Demo family")
        created = open_session(store, config, TokenSigner(load_secret(config.data_dir)), case)
        return {
            "practitioner_page": f"{config.base_url}/app",
            "practitioner_login": {"username": DEMO_USER, "password": password},
            "case_id": case.id,
            "session_id": created["session"]["id"],
            "family_link": created["family_link"],
        }
    finally:
        store.close()


def cmd_user_add(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password (8 characters or more): ")
    else:
        print("error: give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    store = _open_store(config)
    try:
        password_hash = Passwords().hash(password)
        user = store.add_user(args.username, args.name or args.username, args.role, password_hash)
        store.audit("cli", "user-added", f"user:{user.id}", role=args.role)
    except (ValueError, Conflict) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(json.dumps({"id": user.id, "username": user.username, "role": user.role}))
    return 0


def cmd_session_create(args: argparse.Namespace) -> int:
    config = _config(args)
    store = _open_store(config)
    try:
        owner = store.user_by_name(args.owner)
        if owner is None or owner.role != "practitioner":
            print(f"error: no practitioner called {args.owner!r}", file=sys.stderr)
            return 1
        if args.case:
            case = store.case(args.case)
            if case.owner_id != owner.id:
                print("error: that case belongs to another practitioner", file=sys.stderr)
                return 1
        else:
            case = store.add_case(owner.id, args.case_label)
        created = open_session(store, config, TokenSigner(load_secret(config.data_dir)), case)
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(
        json.dumps(
            {
                "case_id": case.id,
                "session_id": created["session"]["id"],
                "family_link": created["family_link"],
                "practitioner_page": f"{config.base_url}/app",
            }
        )
    )
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="recordings", help="data folder (default: recordings)")
    parser.add_argument(
        "--master-key-file",
        help="the master key, kept outside the data folder (or VIGREMOTE_MASTER_KEY; "
        "default ~/.config/vigremote/master.key, made on first use)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--public-url", help="the URL families reach, e.g. https://vig.example.org")
    parser.add_argument(
        "--ice-server",
        action="append",
        default=[],
        help="a STUN or TURN URL for browsers and the server (repeatable)",
    )
    parser.add_argument("--ice-username", help="TURN username")
    parser.add_argument("--ice-credential", help="TURN password")
    parser.add_argument(
        "--turn-url",
        action="append",
        default=[],
        help="a TURN URL sharing the secret, e.g. turn:turn.example.org:3478 (repeatable)",
    )
    parser.add_argument(
        "--turn-secret-file",
        help="file holding coturn's static-auth-secret (or VIGREMOTE_TURN_SECRET)",
    )
    parser.add_argument(
        "--turn-secret", help="coturn's static-auth-secret (visible in ps: prefer the file)"
    )
    parser.add_argument(
        "--turn-ttl", type=int, default=12 * 3600, help="TURN credential lifetime in seconds (12 h)"
    )
    parser.add_argument(
        "--redis-url",
        help="share live state (rooms, rosters, events) through Redis: needed by several "
        "worker processes or machines, e.g. redis://127.0.0.1:6379/0",
    )
    parser.add_argument(
        "--retention-text",
        help="one sentence for families: how long recordings are kept, e.g. "
        "'Recordings are deleted 12 months after your last session.'",
    )
    parser.add_argument(
        "--retain-raw-days",
        type=int,
        default=Config.retain_raw_days_after_review,
        help="days a filming's raw recording is kept after its shared review",
    )
    parser.add_argument(
        "--retain-days-after-close",
        type=int,
        default=Config.retain_days_after_close,
        help="days a closed case (clips, stills, all) is kept",
    )
    parser.add_argument(
        "--retain-review-days",
        type=int,
        default=Config.retain_review_recording_days,
        help="days a recorded shared review is kept",
    )
    parser.add_argument(
        "--retain-audit-days",
        type=int,
        default=Config.retain_audit_days,
        help="days audit entries are kept",
    )
    parser.add_argument(
        "--allow-downloads",
        action="store_true",
        help="let families who agreed to keep copies have a page with their clips",
    )
    parser.add_argument(
        "--family-copies-days",
        type=int,
        default=Config.family_copies_days,
        help="days a family's copies page works (it can be switched off before)",
    )
    parser.add_argument(
        "--sds-scale",
        help="the organisation's VIG-SDS scale (JSON: name, items, levels); "
        "a neutral placeholder is used without it",
    )
    parser.add_argument(
        "--accreditation",
        help="the accreditation scheme's targets and milestones (JSON); a placeholder without it",
    )
    parser.add_argument(
        "--org-contact",
        help="one sentence for families: whom to contact, e.g. "
        "'Questions? Call the Family Team on 01234 567890.'",
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="vigremote", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument(
        "--demo",
        action="store_true",
        help="create a demo practitioner and session and print how to join",
    )
    serve.add_argument("--cert", help="TLS certificate (phones need https for the camera)")
    serve.add_argument("--key", help="TLS private key")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="server processes behind the one address: a number, or 'auto' (one per core); "
        "above 1 they share rooms through Redis (--redis-url, or a local redis-server)",
    )
    serve.add_argument(
        "--advertise-host",
        default="127.0.0.1",
        help="where the other workers reach this one's internal port (its address on the "
        "machines' private network, when workers run on several machines)",
    )
    serve.add_argument("--worker-id", help=argparse.SUPPRESS)  # set by the parent process
    serve.add_argument("--internal-port", type=int, help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    user = sub.add_parser("user", help="manage accounts").add_subparsers(
        dest="action", required=True
    )
    add = user.add_parser("add", help="create a practitioner, supervisor or admin")
    _common(add)
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES_WITH_ACCOUNTS, default="practitioner")
    add.add_argument("--name", help="display name")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=cmd_user_add)

    session = sub.add_parser("session", help="filming sessions").add_subparsers(
        dest="action", required=True
    )
    create = session.add_parser("create", help="create a session; prints ids and links as JSON")
    _common(create)
    create.add_argument("--owner", required=True, help="the practitioner's username")
    which = create.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", help="an existing case id")
    which.add_argument("--case-label", help="create a new case with this label")
    create.set_defaults(func=cmd_session_create)

    keys = sub.add_parser("keys", help="the master key").add_subparsers(
        dest="action", required=True
    )
    generate = keys.add_parser("generate", help="print a new master key (base64) to keep safe")
    generate.set_defaults(func=cmd_keys_generate)
    governance_commands.register(sub, keys, _common, _config)
    supervision_commands.register(sub, _common, _config)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="action", required=True
    )
    check = audit.add_parser("verify", help="check the audit trail; name the first broken entry")
    _common(check)
    check.set_defaults(func=cmd_audit_verify)
    return top


def cmd_keys_generate(args: argparse.Namespace) -> int:
    print(new_key_text())
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    config = _config(args)
    if not config.db_path.exists():
        print(f"error: no database in {config.data_dir}", file=sys.stderr)
        return 2
    store = _open_store(config)
    try:
        verdict = verify(store.db, derive(config.master_key, AUDIT_SEAL_KEY))
    finally:
        store.db.close()  # not Store.close: a check logs no head
    print(json.dumps(dataclasses.asdict(verdict) | {"ok": verdict.ok}, indent=2))
    return 0 if verdict.ok else 1


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `serve --workers` passes it on
    if getattr(args, "cert", None) and not getattr(args, "key", None):
        print("error: --cert needs --key", file=sys.stderr)
        return 2
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
