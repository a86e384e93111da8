"""`vigremote supervision link|group|list` as real subprocesses: a link, a change of supervisor
with the history kept, a peer group, and clear refusals that change nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.vaults import TEST_MASTER_KEY
from tests.test_governance_cli import run as run_command
from vigremote.config import Config
from vigremote.records import open_records


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_command(data, TEST_MASTER_KEY, *args)


def test_links_history_and_groups_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    records = open_records(Config(data, master_key=TEST_MASTER_KEY))
    for name, role in [
        ("alice", "practitioner"),
        ("pete", "practitioner"),
        ("sam", "supervisor"),
        ("sue", "supervisor"),
    ]:
        records.store.add_user(name, name.title(), role, "unused")
    records.close()

    assert (
        run(data, "supervision", "link", "--trainee", "alice", "--supervisor", "sam").returncode
        == 0
    )
    refused = run(data, "supervision", "link", "--trainee", "sam", "--supervisor", "sue")
    assert refused.returncode == 1 and "not a practitioner" in refused.stderr
    assert (
        run(data, "supervision", "link", "--trainee", "alice", "--supervisor", "sue").returncode
        == 0
    )
    made = run(data, "supervision", "group", "--name", "Tuesday", "--members", "alice,pete")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["group"]["members"] == ["alice", "pete"]
    alone = run(data, "supervision", "group", "--name", "Alone", "--members", "alice")
    assert alone.returncode == 1 and "at least two" in alone.stderr

    listed = run(data, "supervision", "list")
    links = json.loads(listed.stdout)["links"]
    assert [(link["supervisor"], link["ended_at"] is None) for link in links] == [
        ("sam", False),
        ("sue", True),
    ]
    records = open_records(Config(data, master_key=TEST_MASTER_KEY))
    try:
        alice = records.store.user_by_name("alice")
        assert alice is not None
        assert records.supervision.supervisor_of(alice.id) == records.store.user_by_name("sue").id  # type: ignore[union-attr]
        assert [g["name"] for g in records.supervision.groups_of(alice.id)] == ["Tuesday"]
        actions = [e["action"] for e in records.store.audit_trail()]
        assert actions.count("supervision-linked") == 2 and "peer-group-made" in actions
    finally:
        records.close()


def test_a_scale_file_and_a_portfolio_from_the_command_line(tmp_path: Path) -> None:
    from tests.test_supervision_progress import OTHER_SCALE, SCHEME, seed_history_in

    data = tmp_path / "data"
    records = open_records(Config(data, master_key=TEST_MASTER_KEY))
    alice = records.store.add_user("alice", "Alice", "practitioner", "unused")
    seed_history_in(records, alice)
    records.close()
    scale, scheme = tmp_path / "scale.json", tmp_path / "scheme.json"
    scale.write_text(json.dumps(OTHER_SCALE))
    scheme.write_text(json.dumps(SCHEME))
    (tmp_path / "broken.json").write_text('{"name": "x", "items": [], "levels": []}')

    refused = run(data, "supervision", "scale", str(tmp_path / "broken.json"))
    assert refused.returncode == 1 and "items" in refused.stderr
    loaded = run(data, "supervision", "scale", str(scale))
    assert loaded.returncode == 0 and json.loads(loaded.stdout)["items"] == 3
    out = tmp_path / "alice.html"
    made = run(
        data,
        "supervision",
        "portfolio",
        "--trainee",
        "alice",
        "--out",
        str(out),
        "--accreditation",
        str(scheme),
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["cycles"] == 3
    html = out.read_text()
    assert "Portfolio of Alice" in html and "Another organisation" in html and "<svg" in html
    again = run(data, "supervision", "portfolio", "--trainee", "alice", "--out", str(out))
    assert again.returncode == 1  # never overwrites
