"""Sealed files and case keys (vigremote/vault): round trips at any offset, crash recovery,
tampering refused, erasure and master-key rotation."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from vigremote.vault.files import Vault
from vigremote.vault.keyring import BadText, KeyGone, Keyring
from vigremote.vault.sealed import (
    CHUNK,
    HEADER_SIZE,
    SLOT_OVERHEAD,
    SealedFile,
    Tampered,
    Unfinished,
    is_sealed,
)

MASTER = bytes(range(32))


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    db = sqlite3.connect(tmp_path / "store.db", isolation_level=None, check_same_thread=False)
    (tmp_path / "cases" / "case-aaaaaaaa").mkdir(parents=True)
    return Vault(tmp_path, Keyring(db, MASTER))


def case_file(vault: Vault, name: str) -> Path:
    return vault.cases_dir / "case-aaaaaaaa" / name


def test_any_range_reads_back_what_was_written(vault: Vault) -> None:
    rng = random.Random(7)
    data = rng.randbytes(3 * CHUNK + 1234)
    path = case_file(vault, "a.bin")
    with vault.create(path) as out:
        out.write(data)
    assert is_sealed(path) and data[:4096] not in path.read_bytes()
    with vault.open(path) as sealed:
        assert sealed.size == len(data)
        for _ in range(200):
            start = rng.randrange(len(data))
            length = rng.randrange(1, 200_000)
            sealed.seek(start)
            assert sealed.read(length) == data[start : start + length]
        sealed.seek(-10, os.SEEK_END)
        assert sealed.read() == data[-10:]


def test_writes_that_go_back_and_patch_are_kept(vault: Vault) -> None:
    """A muxer goes back to patch sizes: earlier chunks are re-sealed with the patch."""
    path = case_file(vault, "patched.bin")
    expected = bytearray(os.urandom(2 * CHUNK + 500))
    with vault.create(path) as out:
        out.write(bytes(expected))
        out.seek(10)
        out.write(b"PATCH")
        out.seek(CHUNK - 2)
        out.write(b"ACROSS")  # over a chunk boundary
        out.seek(0, os.SEEK_END)
        out.write(b"tail")
    expected[10:15] = b"PATCH"
    expected[CHUNK - 2 : CHUNK + 4] = b"ACROSS"
    expected += b"tail"
    assert vault.read_bytes(path) == bytes(expected)


def test_pyav_muxes_into_and_demuxes_from_a_sealed_file(vault: Vault) -> None:
    path = case_file(vault, "video.webm")
    with vault.create(path) as sink, av.open(sink, "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):
            frame = av.VideoFrame(64, 48, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([i * 8 % 256]) * plane.buffer_size)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with vault.open(path) as source, av.open(source) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 30
    with vault.open(path) as source, av.open(source) as container:
        container.seek(15 * 1000 // 30 * 1000, any_frame=False)  # a seek works
        assert next(container.decode(video=0)) is not None


@pytest.mark.parametrize("where", [0, 8, HEADER_SIZE + 5, HEADER_SIZE + CHUNK + 40, -3])
def test_a_flipped_byte_is_refused(vault: Vault, where: int) -> None:
    path = case_file(vault, "flip.bin")
    with vault.create(path) as out:
        out.write(os.urandom(2 * CHUNK + 10))
    raw = bytearray(path.read_bytes())
    raw[where] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(Tampered):
        vault.check(path)


def test_a_file_cut_short_or_with_swapped_chunks_is_refused(vault: Vault) -> None:
    path = case_file(vault, "cut.bin")
    with vault.create(path) as out:
        out.write(os.urandom(3 * CHUNK))
    raw = path.read_bytes()
    slot = CHUNK + SLOT_OVERHEAD
    path.write_bytes(raw[: HEADER_SIZE + 2 * slot])  # cut at a chunk boundary
    with pytest.raises(Unfinished):
        vault.check(path)
    swapped = raw[:HEADER_SIZE] + raw[HEADER_SIZE + slot : HEADER_SIZE + 2 * slot]
    swapped += raw[HEADER_SIZE : HEADER_SIZE + slot] + raw[HEADER_SIZE + 2 * slot :]
    path.write_bytes(swapped)
    with pytest.raises(Tampered):
        vault.check(path)
    path.write_bytes(b"plain bytes, never sealed")
    with pytest.raises(Tampered):
        vault.check(path)


def test_a_file_from_another_case_does_not_open_as_this_one(vault: Vault) -> None:
    """Each case has its own key: a header swapped in from another case's file fails."""
    (vault.cases_dir / "case-bbbbbbbb").mkdir()
    mine, theirs = case_file(vault, "m.bin"), vault.cases_dir / "case-bbbbbbbb" / "t.bin"
    vault.write_bytes(mine, b"a" * 1000)
    vault.write_bytes(theirs, b"b" * 1000)
    mixed = theirs.read_bytes()[:HEADER_SIZE] + mine.read_bytes()[HEADER_SIZE:]
    mine.write_bytes(mixed)
    with pytest.raises(Tampered):
        vault.read_bytes(mine)


WRITER = """
import sqlite3, sys, time
from pathlib import Path
from vigremote.vault.files import Vault
from vigremote.vault.keyring import Keyring
root = Path(sys.argv[1])
db = sqlite3.connect(root / "store.db", isolation_level=None, check_same_thread=False)
vault = Vault(root, Keyring(db, bytes(range(32))))
out = vault.create(root / "cases" / "case-aaaaaaaa" / "live.bin")
n = 0
while True:
    out.write(n.to_bytes(4, "big") * 256)  # 1 KiB blocks numbered n, like frames
    n += 1
    if n % 100 == 0:
        print(n, flush=True)
    time.sleep(0.002)
"""


def test_sigkill_while_writing_loses_less_than_the_seal_interval(vault: Vault) -> None:
    """A writer killed mid-file leaves what it sealed readable once the file is finished."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(vault.cases_dir.parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    written = 0
    while written < 600:
        written = int(proc.stdout.readline())
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    path = case_file(vault, "live.bin")
    with pytest.raises(Unfinished):
        vault.check(path)
    size = vault.finish_unfinished(path)
    data = vault.read_bytes(path)
    assert len(data) == size and size % 1024 == 0 and size >= 200 * 1024
    blocks = [int.from_bytes(data[i : i + 4], "big") for i in range(0, size, 1024)]
    assert blocks == list(range(len(blocks)))  # every block whole and in order
    assert len(blocks) >= written - 400  # < ~0.8 s of 2.5 ms blocks lost at most


def test_case_keys_erase_and_rotate(vault: Vault, tmp_path: Path) -> None:
    keyring = vault.keyring
    path = case_file(vault, "x.bin")
    vault.write_bytes(path, b"family film")
    label = keyring.seal_text("case-aaaaaaaa", "The Smith family")
    assert "Smith" not in label and keyring.open_text(label) == "The Smith family"
    with pytest.raises(BadText):
        keyring.open_text(label[:-4] + "AAAA")

    new_master = bytes(reversed(range(32)))
    assert keyring.rewrap(new_master) == 1
    db = sqlite3.connect(tmp_path / "store.db", isolation_level=None, check_same_thread=False)
    rotated = Vault(tmp_path, Keyring(db, new_master))
    assert rotated.read_bytes(path) == b"family film"  # media untouched, still opens
    assert rotated.keyring.open_text(label) == "The Smith family"
    with pytest.raises(KeyGone):
        Keyring(db, MASTER).open_text(label)  # the old master key opens nothing now

    rotated.keyring.erase_case("case-aaaaaaaa")
    with pytest.raises(KeyGone):
        rotated.read_bytes(path)
    with pytest.raises(KeyGone):
        rotated.keyring.open_text(label)


def test_files_outside_a_case_folder_are_refused(vault: Vault, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        vault.write_bytes(tmp_path / "loose.bin", b"x")
    with pytest.raises(ValueError):
        vault.write_bytes(vault.cases_dir / "x.bin", b"x")


def test_an_empty_file_is_whole_and_a_write_only_file_reads(vault: Vault) -> None:
    path = case_file(vault, "empty.bin")
    SealedFile.create(path, *vault.keyring.case_key("case-aaaaaaaa")).close()
    assert vault.read_bytes(path) == b""
