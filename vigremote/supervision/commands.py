"""`vigremote supervision link|group|list|scale|portfolio`: who supervises whom, the rating
scale, and a trainee's portfolio, from the command line (the pages do the same over the API).
Each opens the data folder as the server does."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vigremote.config import Config
from vigremote.records import open_records
from vigremote.supervision.portfolio import portfolio_html
from vigremote.supervision.progress import load_thresholds, progress
from vigremote.supervision.ratings import BadScale, read_scale_file
from vigremote.supervision.store import account_with_role

ConfigOf = Callable[[argparse.Namespace], Config]


def cmd_link(args: argparse.Namespace, config_of: ConfigOf) -> int:
    records = open_records(config_of(args))
    try:
        trainee = account_with_role(records.store, args.trainee, "practitioner")
        supervisor = account_with_role(records.store, args.supervisor, "supervisor")
        link = records.supervision.link(trainee.id, supervisor.id, "cli")
        records.store.audit(
            "cli", "supervision-linked", f"user:{trainee.id}", supervisor=supervisor.id
        )
    except ValueError as exc:
        print(f"error: nothing changed: {exc}", file=sys.stderr)
        return 1
    finally:
        records.close()
    print(json.dumps({"link": link.to_json()}))
    return 0


def cmd_group(args: argparse.Namespace, config_of: ConfigOf) -> int:
    records = open_records(config_of(args))
    try:
        names = [m.strip() for m in args.members.split(",") if m.strip()]
        if len(names) < 2:
            raise ValueError("a peer group needs at least two trainees")
        ids = [account_with_role(records.store, name, "practitioner").id for name in names]
        group_id = records.supervision.add_group(args.name, ids)
        records.store.audit("cli", "peer-group-made", f"group:{group_id}", members=ids)
    except ValueError as exc:
        print(f"error: nothing changed: {exc}", file=sys.stderr)
        return 1
    finally:
        records.close()
    print(json.dumps({"group": {"id": group_id, "name": args.name, "members": names}}))
    return 0


def cmd_list(args: argparse.Namespace, config_of: ConfigOf) -> int:
    records = open_records(config_of(args))
    try:
        name = {u.id: u.username for u in records.store.users()}
        links = [
            link.to_json()
            | {"trainee": name[link.trainee_id], "supervisor": name[link.supervisor_id]}
            for link in records.supervision.links()
        ]
    finally:
        records.close()
    print(json.dumps({"links": links}, indent=1))
    return 0


def cmd_scale(args: argparse.Namespace, config_of: ConfigOf) -> int:
    records = open_records(config_of(args))
    try:
        scale = read_scale_file(Path(args.file))
        scale_id = records.ratings.load_scale(scale)
        records.store.audit("cli", "sds-scale-loaded", f"scale:{scale_id}", name=scale["name"])
    except BadScale as exc:
        print(f"error: nothing changed: {exc}", file=sys.stderr)
        return 1
    finally:
        records.close()
    print(json.dumps({"scale": scale_id, "name": scale["name"], "items": len(scale["items"])}))
    return 0


def cmd_portfolio(args: argparse.Namespace, config_of: ConfigOf) -> int:
    config = config_of(args)
    records = open_records(config)
    try:
        trainee = account_with_role(records.store, args.trainee, "practitioner")
        figures = progress(records, trainee.id, load_thresholds(config.accreditation_file))
        with open(args.out, "x", encoding="utf-8") as out:
            out.write(portfolio_html(records, trainee.id, figures))
        records.store.audit("cli", "portfolio-exported", f"trainee:{trainee.id}")
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        records.close()
    print(json.dumps({"portfolio": args.out} | figures["figures"]))
    return 0


def register(
    sub: Any,
    common: Callable[[argparse.ArgumentParser], None],
    config_of: ConfigOf,
) -> None:
    """Add `vigremote supervision …` to the command's parser."""

    def bind(parser: argparse.ArgumentParser, command: Callable[..., int]) -> None:
        common(parser)
        parser.set_defaults(func=lambda args: command(args, config_of))

    supervision = sub.add_parser("supervision", help="trainees and supervisors").add_subparsers(
        dest="action", required=True
    )
    link = supervision.add_parser("link", help="a trainee's supervisor from now on")
    link.add_argument("--trainee", required=True, help="the trainee's username")
    link.add_argument("--supervisor", required=True, help="the supervisor's username")
    bind(link, cmd_link)
    group = supervision.add_parser("group", help="make a peer-supervision group of trainees")
    group.add_argument("--name", required=True)
    group.add_argument("--members", required=True, help="trainees' usernames, comma-separated")
    bind(group, cmd_group)
    listing = supervision.add_parser("list", help="who supervises whom, with history")
    bind(listing, cmd_list)
    scale = supervision.add_parser("scale", help="load the organisation's rating scale (JSON)")
    scale.add_argument("file")
    bind(scale, cmd_scale)
    folio = supervision.add_parser("portfolio", help="a trainee's portfolio as one HTML file")
    folio.add_argument("--trainee", required=True, help="the trainee's username")
    folio.add_argument("--out", required=True, help="the file to write (must not exist)")
    bind(folio, cmd_portfolio)
