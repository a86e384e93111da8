"""The governance commands: `vigremote keys rotate`, `backup unseal`, `case export|erase`,
`retention run`. Each opens the data folder as the server does (records.py: migrations first).

Run them while the server is stopped, or use the pages' buttons: a command does not reach the
rooms of a running server (an erasure would not hang up a call of that case).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from vigremote.audit import AUDIT_SEAL_KEY, reseal
from vigremote.config import Config
from vigremote.governance.erasure import OnLegalHold, StillLive, erase_case
from vigremote.governance.export import export_case
from vigremote.governance.retention import sweep
from vigremote.keys import MasterKeyError, derive, new_key_text, parse_key, write_private_key
from vigremote.live.keeper import make_live_state
from vigremote.migrations import unseal_backup
from vigremote.records import Records, open_records
from vigremote.rooms import Rooms
from vigremote.state import (
    CLIPS,
    CONFIG,
    LIVE,
    MEDIA_LOCKS,
    RECORDINGS,
    RECORDS,
    REVIEWS,
    ROOMS,
    STORE,
    VAULT,
)
from vigremote.storage import NotFound, checkpoint

ConfigOf = Callable[[argparse.Namespace], Config]


T = TypeVar("T")


def offline_app(config: Config, records: Records) -> web.Application:
    """What the governance functions use of a server, for a command (no rooms are open here;
    with a Redis URL, the servers' processes are told what the command does to their rooms)."""
    app = web.Application()
    app[CONFIG], app[RECORDS], app[STORE], app[VAULT] = (
        config,
        records,
        records.store,
        records.vault,
    )
    app[RECORDINGS], app[CLIPS], app[REVIEWS] = records.recordings, records.clips, records.reviews
    app[ROOMS] = Rooms(lambda kind, name: None)
    app[MEDIA_LOCKS] = {}
    app[LIVE] = make_live_state(config)
    return app


async def offline(app: web.Application, work: Awaitable[T]) -> T:
    """Run a command's work on an offline app, then close its live state."""
    try:
        return await work
    finally:
        await app[LIVE].close()


def cmd_keys_rotate(args: argparse.Namespace, config_of: ConfigOf) -> int:
    """Re-wrap every case key and re-seal the audit trail with a new master key; no media file
    is touched. The new key goes to --new-key-file (made there if missing)."""
    config = config_of(args)
    new_path = Path(args.new_key_file).expanduser().resolve()
    if new_path.is_relative_to(config.data_dir.resolve()):
        print("error: the new master key must live outside the data folder", file=sys.stderr)
        return 2
    if not new_path.exists():
        write_private_key(new_path, new_key_text())
    try:
        new_key = parse_key(new_path.read_text(encoding="ascii"), str(new_path))
    except MasterKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    records = open_records(config)
    db = records.store.db
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            keys = records.store.keyring.rewrap(new_key)
            entries = reseal(
                db, derive(config.master_key, AUDIT_SEAL_KEY), derive(new_key, AUDIT_SEAL_KEY)
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        checkpoint(db)
    except ValueError as exc:
        print(f"error: nothing changed: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    print(
        json.dumps(
            {
                "case_keys_rewrapped": keys,
                "audit_entries_resealed": entries,
                "new_master_key": str(new_path),
                "next": "start vigremote with the new key (--master-key-file or "
                "VIGREMOTE_MASTER_KEY); keep the old one until you have checked it works",
            },
            indent=2,
        )
    )
    return 0


def cmd_backup_unseal(args: argparse.Namespace, config_of: ConfigOf) -> int:
    config = config_of(args)
    records = open_records(config)
    try:
        unseal_backup(records.store.keyring, Path(args.backup), Path(args.out))
    except FileExistsError:
        print(f"error: {args.out} exists; choose another name", file=sys.stderr)
        return 1
    finally:
        records.close()
    print(json.dumps({"database": args.out}))
    return 0


def cmd_case_export(args: argparse.Namespace, config_of: ConfigOf) -> int:
    config = config_of(args)
    records = open_records(config)
    try:
        records.store.case(args.case)
        with open(args.out, "xb") as sink:
            summary = export_case(records, config.data_dir, args.case, sink)
        records.store.audit("cli", "case-exported", f"case:{args.case}", **summary)
    except NotFound:
        print(f"error: no case {args.case!r}", file=sys.stderr)
        return 1
    except FileExistsError:
        print(f"error: {args.out} exists; choose another name", file=sys.stderr)
        return 1
    finally:
        records.close()
    print(json.dumps({"archive": args.out} | summary))
    return 0


def cmd_case_erase(args: argparse.Namespace, config_of: ConfigOf) -> int:
    config = config_of(args)
    records = open_records(config)
    try:
        case = records.store.case(args.case)
        if args.confirm != case.label:
            print("error: --confirm must be the case's label, exactly", file=sys.stderr)
            return 1
        app = offline_app(config, records)
        erased = asyncio.run(offline(app, erase_case(app, case.id, "cli", "command")))
    except NotFound:
        print(f"error: no case {args.case!r}", file=sys.stderr)
        return 1
    except (OnLegalHold, StillLive) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        records.close()
    print(json.dumps({"erased": args.case} | erased.to_json()))
    return 0


def cmd_retention_run(args: argparse.Namespace, config_of: ConfigOf) -> int:
    config = config_of(args)
    records = open_records(config)
    try:
        now = time.time() + args.days_ahead * 24 * 3600
        app = offline_app(config, records)
        gone = asyncio.run(offline(app, sweep(app, now)))
    finally:
        records.close()
    print(json.dumps({"deleted": [d.to_json() for d in gone]}, indent=2))
    return 0


def register(
    sub: Any,
    keys: Any,
    common: Callable[[argparse.ArgumentParser], None],
    config_of: ConfigOf,
) -> None:
    """Add the governance subcommands to the `vigremote` parser."""

    def bind(parser: argparse.ArgumentParser, command: Callable[..., int]) -> None:
        common(parser)
        parser.set_defaults(func=lambda args: command(args, config_of))

    rotate = keys.add_parser(
        "rotate", help="re-wrap the case keys and re-seal the audit with a new master key"
    )
    rotate.add_argument("--new-key-file", required=True, help="the new key (made if missing)")
    bind(rotate, cmd_keys_rotate)

    backup = sub.add_parser("backup", help="backups made before migrations").add_subparsers(
        dest="action", required=True
    )
    unseal = backup.add_parser("unseal", help="turn a sealed backup back into a SQLite file")
    unseal.add_argument("backup")
    unseal.add_argument("--out", required=True)
    bind(unseal, cmd_backup_unseal)

    case = sub.add_parser("case", help="a family's case").add_subparsers(
        dest="action", required=True
    )
    export = case.add_parser("export", help="everything of a case as one zip (decrypted)")
    export.add_argument("case")
    export.add_argument("--out", required=True, help="the archive to write (must not exist)")
    bind(export, cmd_case_export)
    erase = case.add_parser("erase", help="erase a case and everything of it")
    erase.add_argument("case")
    erase.add_argument("--confirm", required=True, help="the case's label, as confirmation")
    bind(erase, cmd_case_erase)

    retention = sub.add_parser("retention", help="retention").add_subparsers(
        dest="action", required=True
    )
    run = retention.add_parser("run", help="delete what has expired now (the daily sweep)")
    run.add_argument(
        "--days-ahead", type=float, default=0.0, help="as if this many days later (testing)"
    )
    bind(run, cmd_retention_run)
