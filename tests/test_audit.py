"""The audit trail is tamper-evident: `vigremote audit verify` names the first entry that was
altered, removed or inserted straight in the SQLite file, even when the attacker recomputes
the hash chain (each hash is sealed with a key from outside the data folder)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from vigremote import cli
from vigremote.audit import AUDIT_SEAL_KEY, GENESIS, entry_hash, verify
from vigremote.keys import derive, new_key_text, parse_key
from vigremote.storage import Store

KEY_TEXT = new_key_text()
SEAL_KEY = derive(parse_key(KEY_TEXT, "test"), AUDIT_SEAL_KEY)


def _trail(path: Path, entries: int = 8) -> None:
    store = Store(path, audit_key=SEAL_KEY)
    for n in range(entries):
        store.audit(f"user{n}", "recording-opened", f"recording:r{n}", n=n)
    store.close()


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _rechain_from(db: sqlite3.Connection, first_id: int) -> None:
    """What an attacker with the file (and without the key) does to hide an edit."""
    rows = db.execute(
        "SELECT id, at, actor, action, object, detail FROM audit WHERE id >= ? ORDER BY id",
        (first_id,),
    ).fetchall()
    prev_row = db.execute(
        "SELECT hash FROM audit WHERE id < ? ORDER BY id DESC LIMIT 1", (first_id,)
    ).fetchone()
    prev = prev_row[0] if prev_row else GENESIS
    for entry_id, at, actor, action, obj, detail in rows:
        digest = entry_hash(prev, entry_id, at, actor, action, obj, detail)
        db.execute(
            "UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, entry_id)
        )
        prev = digest


def _problem(path: Path, key: bytes = SEAL_KEY) -> str | None:
    with _raw(path) as db:
        return verify(db, key).problem


def test_an_untouched_trail_verifies_and_reports_its_head(tmp_path: Path) -> None:
    db_path = tmp_path / "v.sqlite3"
    _trail(db_path)
    with _raw(db_path) as db:
        verdict = verify(db, SEAL_KEY)
        last_hash = db.execute("SELECT hash FROM audit WHERE id = 8").fetchone()[0]
    assert verdict.ok and verdict.entries == 8
    assert (verdict.head_id, verdict.head_hash) == (8, last_hash)


def test_an_altered_detail_is_named(tmp_path: Path) -> None:
    db_path = tmp_path / "v.sqlite3"
    _trail(db_path)
    with _raw(db_path) as db:
        db.execute("UPDATE audit SET actor = 'nobody' WHERE id = 4")
    assert _problem(db_path) == "entry 4 was altered"


def test_an_alteration_hidden_by_a_recomputed_chain_is_still_named(tmp_path: Path) -> None:
    db_path = tmp_path / "v.sqlite3"
    _trail(db_path)
    with _raw(db_path) as db:
        db.execute("UPDATE audit SET action = 'nothing-seen' WHERE id = 4")
        _rechain_from(db, 4)
    problem = _problem(db_path)
    assert problem is not None and problem.startswith("entry 4 was altered or inserted")


def test_a_removed_entry_is_named_with_or_without_renumbering(tmp_path: Path) -> None:
    db_path = tmp_path / "v.sqlite3"
    _trail(db_path)
    with _raw(db_path) as db:
        db.execute("DELETE FROM audit WHERE id = 5")
    assert _problem(db_path) == "entry 5 was removed (the trail jumps to entry 6)"

    renumbered = tmp_path / "r.sqlite3"
    _trail(renumbered)
    with _raw(renumbered) as db:
        db.execute("DELETE FROM audit WHERE id = 5")
        for entry_id in range(6, 9):
            db.execute("UPDATE audit SET id = ? WHERE id = ?", (entry_id - 1, entry_id))
        _rechain_from(db, 5)
    problem = _problem(renumbered)
    assert problem is not None and problem.startswith("entry 5 was altered or inserted")


def test_an_inserted_entry_is_named(tmp_path: Path) -> None:
    db_path = tmp_path / "v.sqlite3"
    _trail(db_path)
    with _raw(db_path) as db:
        for entry_id in range(8, 3, -1):  # make room after entry 3
            db.execute("UPDATE audit SET id = ? WHERE id = ?", (entry_id + 1, entry_id))
        db.execute(
            "INSERT INTO audit (id, at, actor, action, object, detail) VALUES"
            " (4, 1.0, 'admin', 'consent-given', 'case:c', '{}')"
        )
        _rechain_from(db, 4)
    problem = _problem(db_path)
    assert problem is not None and problem.startswith("entry 4 was altered or inserted")

    appended = tmp_path / "a.sqlite3"
    _trail(appended)
    with _raw(appended) as db:
        db.execute(
            "INSERT INTO audit (at, actor, action, object, detail) VALUES"
            " (2.0, 'admin', 'consent-given', 'case:c', '{}')"
        )
        _rechain_from(db, 9)
    problem = _problem(appended)
    assert problem is not None and problem.startswith("entry 9 was altered or inserted")


def test_another_master_key_does_not_verify(tmp_path: Path) -> None:
    db_path = tmp_path / "v.sqlite3"
    _trail(db_path)
    other = derive(parse_key(new_key_text(), "other"), AUDIT_SEAL_KEY)
    problem = _problem(db_path, other)
    assert problem is not None and problem.startswith("entry 1 was altered or inserted")


def test_entries_from_before_the_chain_are_chained_when_the_store_opens(tmp_path: Path) -> None:
    db_path = tmp_path / "old.sqlite3"
    with _raw(db_path) as db:  # an audit table as an earlier version made it
        db.execute(
            "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,"
            " actor TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL,"
            " detail TEXT NOT NULL)"
        )
        for n in range(3):
            db.execute(
                "INSERT INTO audit (at, actor, action, object, detail)"
                " VALUES (?, 'u', 'x', 'o', ?)",
                (float(n), json.dumps({"n": n})),
            )
    store = Store(db_path, audit_key=SEAL_KEY)
    store.audit("u", "login", "user:u")
    assert [e["detail"] for e in store.audit_trail()] == [{"n": 0}, {"n": 1}, {"n": 2}, {}]
    store.close()
    with _raw(db_path) as db:
        assert verify(db, SEAL_KEY).ok


def test_the_command_verifies_names_the_entry_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIGREMOTE_MASTER_KEY", raising=False)
    data, key_file = tmp_path / "data", tmp_path / "keys" / "master.key"
    key_file.parent.mkdir()
    key_file.write_text(KEY_TEXT + "\n")
    key_file.chmod(0o600)
    common = ["--data", str(data), "--master-key-file", str(key_file)]
    # Some audited work through the real Store the server uses.
    config = cli._config(cli.parser().parse_args(["audit", "verify", *common]))
    store = cli._open_store(config)
    store.audit("sue", "login", "user:sue")
    store.audit("sue", "recording-opened", "recording:r1")
    store.close()
    capsys.readouterr()
    assert cli.main(["audit", "verify", *common]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["entries"] >= 2

    with _raw(data / "vigremote.sqlite3") as db:
        last = db.execute("SELECT max(id) FROM audit").fetchone()[0]
        db.execute("UPDATE audit SET object = 'recording:r2' WHERE id = ?", (last,))
    assert cli.main(["audit", "verify", *common]) == 1
    assert json.loads(capsys.readouterr().out)["problem"] == f"entry {last} was altered"


def test_the_master_key_must_live_outside_the_data_folder_and_be_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIGREMOTE_MASTER_KEY", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    inside = data / "master.key"
    inside.write_text(KEY_TEXT)
    inside.chmod(0o600)
    with pytest.raises(SystemExit, match="outside the data folder"):
        cli.main(["audit", "verify", "--data", str(data), "--master-key-file", str(inside)])
    shared = tmp_path / "shared.key"
    shared.write_text(KEY_TEXT)
    shared.chmod(0o644)
    with pytest.raises(SystemExit, match="readable by other users"):
        cli.main(["audit", "verify", "--data", str(data), "--master-key-file", str(shared)])
    with pytest.raises(SystemExit, match="no master key"):
        cli.main(["audit", "verify", "--data", str(data), "--master-key-file", str(tmp_path / "x")])
    monkeypatch.setenv("VIGREMOTE_MASTER_KEY", "not base64!")
    with pytest.raises(SystemExit, match="base64"):
        cli.main(["audit", "verify", "--data", str(data)])
