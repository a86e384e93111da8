"""Sealed files: media encrypted at rest in authenticated chunks that can be read at any offset.

A sealed file is a 64-byte header and then the plaintext cut into chunks of `CHUNK` bytes, each
stored in its own slot as `nonce (12) | AES-256-GCM ciphertext | tag (16)`. The design follows
the STREAM construction of age and Tink's streaming AEAD, adapted to what vigremote needs:

- **Seekable.** Slot i starts at a fixed offset, so a byte range (a browser's Range request,
  PyAV seeking in a recording to cut a clip) decrypts only the chunks it touches.
- **Crash-safe while writing.** The recorder's muxer writes a little every frame and now and
  then goes back to patch a size; the open chunk is kept in memory and sealed to disk at least
  every `SEAL_EVERY_S` (`seal_if_due`), so a SIGKILL loses less than that of what the muxer
  wrote. Sealing a chunk again (it grew, or was patched) takes a fresh random nonce: a nonce
  never encrypts two plaintexts under one key.
- **Tamper-evident.** Each chunk's associated data is the header, its index and whether it is
  the last one, so a flipped byte, swapped or reordered chunks, a file cut short or a header
  from another file all fail to decrypt (`Tampered`); nothing unauthenticated is ever returned.
  A file that was being written when the process died ends in a chunk not marked last:
  `finish_unfinished` checks and marks it (the server does so for interrupted recordings).

The per-file key is HKDF-SHA256(the case's key, the header's random salt): a case's files
share no key with another case's, and erasing a case's key (keyring.py) makes every file of
that case unreadable at once, copies and backups included.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"VIGSEAL1"
HEADER_SIZE = 64
KEY_ID_SIZE = 16
SALT_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
CHUNK = 64 * 1024
SLOT_OVERHEAD = NONCE_SIZE + TAG_SIZE
SEAL_EVERY_S = 0.5
_HEADER = struct.Struct(f">8s{KEY_ID_SIZE}s{SALT_SIZE}sI20x")

# A key id (from the header) -> that key (the case's key), or KeyError if it is gone.
KeyLookup = Callable[[bytes], bytes]


class Tampered(Exception):
    """The file is not what was sealed: altered, cut short, or not a sealed file at all."""


class Unfinished(Tampered):
    """The file ends without its last chunk: it was being written when the writer stopped (or
    it was cut at a chunk boundary). finish_unfinished() checks it and makes it whole."""


def is_sealed(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _file_key(case_key: bytes, salt: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"vigremote sealed file")
    return AESGCM(hkdf.derive(case_key))


def _slot_offset(index: int) -> int:
    return HEADER_SIZE + index * (CHUNK + SLOT_OVERHEAD)


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if last else 0)


class SealedFile(io.RawIOBase):
    """A sealed file opened for reading, or created for writing (random access either way).

    Made by `create()` or `open()`; a file object PyAV can read from or mux into (read, write,
    seek, tell). Writing keeps the open chunk in memory until it is full, `seal_if_due()` is
    called, or the file is closed; close() marks the last chunk.
    """

    def __init__(self, fd: int, header: bytes, aead: AESGCM, writable: bool, size: int) -> None:
        super().__init__()
        self._fd, self._header, self._aead = fd, header, aead
        self._writable = writable
        self._size = size  # plaintext bytes, including what is still in memory
        self._pos = 0
        self._chunk_index = -1  # the chunk held in memory
        self._chunk = bytearray()
        self._dirty = False
        self._sealed_at = time.monotonic()
        self._finished_on_disk = not writable
        self._cached_index, self._cached = -1, b""
        self.durable = False  # fsync when closed

    # -- making and opening ---------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, key_id: bytes, case_key: bytes) -> SealedFile:
        """A new, empty sealed file at `path` (0600; refused if it exists)."""
        if len(key_id) != KEY_ID_SIZE:
            raise ValueError("key id must be 16 bytes")
        salt = os.urandom(SALT_SIZE)
        header = _HEADER.pack(MAGIC, key_id, salt, CHUNK)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.pwrite(fd, header, 0)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, header, _file_key(case_key, salt), True, 0)

    @classmethod
    def open(
        cls, path: Path, keys: KeyLookup, writable: bool = False, allow_unfinished: bool = False
    ) -> SealedFile:
        """Open a sealed file; its key comes from `keys` by the id in its header.

        Raises Tampered (not sealed, or damaged), Unfinished (unless `allow_unfinished`), or
        KeyError (the case's key is gone: erased)."""
        fd = os.open(path, os.O_RDWR if writable else os.O_RDONLY)
        try:
            header = os.pread(fd, HEADER_SIZE, 0)
            if len(header) != HEADER_SIZE or not header.startswith(MAGIC):
                raise Tampered(f"{path.name} is not a sealed file")
            _, key_id, salt, chunk = _HEADER.unpack(header)
            if chunk != CHUNK:
                raise Tampered(f"{path.name} has an unknown chunk size")
            aead = _file_key(keys(key_id), salt)
            sealed = cls(fd, header, aead, writable, 0)
            sealed._size = sealed._measure(allow_unfinished or writable)
        except BaseException:
            os.close(fd)
            raise
        return sealed

    def _measure(self, allow_unfinished: bool) -> int:
        """The plaintext size, from the file's size; the last chunk is authenticated here."""
        stored = os.fstat(self._fd).st_size - HEADER_SIZE
        if stored < SLOT_OVERHEAD:
            if stored == 0 and allow_unfinished:
                self._finished_on_disk = False
                return 0  # made, and nothing sealed yet
            raise Unfinished("the sealed file has no chunk at all")
        chunks = -(-stored // (CHUNK + SLOT_OVERHEAD))
        last_len = stored - (chunks - 1) * (CHUNK + SLOT_OVERHEAD) - SLOT_OVERHEAD
        if last_len < 0:
            raise Tampered("the sealed file's last chunk is cut short")
        last = chunks - 1
        try:
            self._decrypt(last, last=True)
            self._finished_on_disk = True
        except Tampered:
            if not allow_unfinished:
                self._decrypt(last, last=False)  # Tampered if it is damaged, not unfinished
                raise Unfinished("the sealed file was not finished") from None
            self._decrypt(last, last=False)
            self._finished_on_disk = False
        return last * CHUNK + last_len

    # -- chunks ---------------------------------------------------------------------------
    def _chunks_on_disk(self) -> int:
        stored = os.fstat(self._fd).st_size - HEADER_SIZE
        return max(0, -(-stored // (CHUNK + SLOT_OVERHEAD)))

    def _decrypt(self, index: int, last: bool) -> bytes:
        slot = os.pread(self._fd, CHUNK + SLOT_OVERHEAD, _slot_offset(index))
        if len(slot) < SLOT_OVERHEAD:
            raise Tampered(f"chunk {index} is missing")
        try:
            return self._aead.decrypt(
                slot[:NONCE_SIZE], slot[NONCE_SIZE:], _aad(self._header, index, last)
            )
        except InvalidTag:
            raise Tampered(f"chunk {index} does not authenticate") from None

    def _read_chunk(self, index: int) -> bytes:
        """Chunk `index` as stored (or as held in memory), checked."""
        if index == self._chunk_index:
            return bytes(self._chunk)
        if index == self._cached_index and not self._writable:
            return self._cached
        chunk = self._load(index)
        if not self._writable:  # PyAV reads 32 KiB at a time: decrypt each chunk once
            self._cached_index, self._cached = index, chunk
        return chunk

    def _load(self, index: int) -> bytes:
        last_index = (self._size - 1) // CHUNK if self._size else 0
        if index == last_index and self._finished_on_disk:
            return self._decrypt(index, last=True)
        if index == last_index and self._writable:
            try:
                return self._decrypt(index, last=False)
            except Tampered:
                return self._decrypt(index, last=True)
        return self._decrypt(index, last=False)

    def _seal(self, last: bool = False) -> None:
        """Write the chunk held in memory to its slot, with a fresh nonce."""
        if self._chunk_index < 0:
            return
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._aead.encrypt(
            nonce, bytes(self._chunk), _aad(self._header, self._chunk_index, last)
        )
        self._write_slot(_slot_offset(self._chunk_index), nonce + sealed)
        self._dirty = False
        self._sealed_at = time.monotonic()

    def _write_slot(self, offset: int, slot: bytes) -> None:
        """Write a sealed chunk in place; if the disk refuses part of it (full), put back what
        the slot held, so what was sealed before still opens."""
        end = os.fstat(self._fd).st_size
        before = os.pread(self._fd, len(slot), offset) if offset < end else b""
        try:
            if os.pwrite(self._fd, slot, offset) != len(slot):
                raise OSError(errno.ENOSPC, "the disk took only part of a chunk")
        except OSError:
            try:  # rewriting bytes the file already has needs no new space
                os.pwrite(self._fd, before, offset)
                os.ftruncate(self._fd, end)
            except OSError:
                pass  # the write's own error says what went wrong
            raise

    def _hold(self, index: int) -> None:
        """Make chunk `index` the one held in memory (sealing the one held before)."""
        if index == self._chunk_index:
            return
        if self._dirty:
            self._seal()
        on_disk = index * CHUNK < self._size and index < self._chunks_on_disk()
        self._chunk = bytearray(self._read_chunk(index) if on_disk else b"")
        self._chunk_index = index
        if self._finished_on_disk and self._writable:
            # Writing into a finished file: its last chunk will be sealed as last again on close.
            self._finished_on_disk = False

    # -- file object ----------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return True

    @property
    def size(self) -> int:
        """The plaintext size."""
        return self._size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError("negative seek position")
        self._pos = base + offset
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("read of a closed file")
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        out = bytearray()
        while self._pos < end:
            index, offset = divmod(self._pos, CHUNK)
            chunk = self._read_chunk(index)
            piece = chunk[offset : offset + (end - self._pos)]
            if not piece:
                raise Tampered(f"chunk {index} is shorter than the file says")
            out += piece
            self._pos += len(piece)
        return bytes(out)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._writable:
            raise io.UnsupportedOperation("not opened for writing")
        view = memoryview(data).cast("B")
        written = 0
        while written < len(view):
            index, offset = divmod(self._pos, CHUNK)
            self._hold(index)
            if offset > len(self._chunk):  # a write past the end: zeros in between
                self._chunk.extend(bytes(offset - len(self._chunk)))
            piece = view[written : written + CHUNK - offset]
            self._chunk[offset : offset + len(piece)] = piece
            self._dirty = True
            written += len(piece)
            self._pos += len(piece)
            self._size = max(self._size, index * CHUNK + len(self._chunk))
            if len(self._chunk) == CHUNK:
                self._seal()  # a full chunk goes to disk at once
        self.seal_if_due()
        return written

    def seal_if_due(self) -> None:
        """Seal what is held in memory if it has waited `SEAL_EVERY_S` (crash safety)."""
        if self._dirty and time.monotonic() - self._sealed_at >= SEAL_EVERY_S:
            self._seal()

    def flush(self) -> None:
        """Seal what is held in memory now (not yet marked as the last chunk)."""
        if self._writable and self._dirty and not self.closed:
            self._seal()

    def fsync(self) -> None:
        self.flush()
        os.fsync(self._fd)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._writable:
                self._finish()
                if self.durable:
                    os.fsync(self._fd)
        finally:
            os.close(self._fd)
            super().close()

    def _finish(self) -> None:
        """Seal every chunk and mark the last one as last."""
        last = (self._size - 1) // CHUNK if self._size else 0
        if self._chunk_index != last:
            if self._dirty:
                self._seal()
            self._chunk = bytearray(self._read_chunk(last) if self._size else b"")
            self._chunk_index = last
        self._seal(last=True)
        self._finished_on_disk = True


def finish_unfinished(path: Path, keys: KeyLookup) -> int:
    """Make a sealed file whose writer died whole: its last chunk is checked and marked as
    last. A slot cut short by the crash is dropped (what it held was never fully on disk).
    Returns the plaintext size; Tampered if a chunk does not authenticate."""
    fd = os.open(path, os.O_RDWR)
    try:
        stored = os.fstat(fd).st_size - HEADER_SIZE
        slots = -(-stored // (CHUNK + SLOT_OVERHEAD)) if stored > 0 else 0
        last_len = stored - (slots - 1) * (CHUNK + SLOT_OVERHEAD) if slots else 0
        if slots and last_len < SLOT_OVERHEAD:
            os.ftruncate(fd, _slot_offset(slots - 1))
    finally:
        os.close(fd)
    # close() seals the last chunk as last (an empty one if nothing was ever sealed).
    with SealedFile.open(path, keys, writable=True, allow_unfinished=True) as sealed:
        return sealed.size


def seal_bytes(path: Path, data: bytes, key_id: bytes, case_key: bytes) -> None:
    """Write `data` as a new sealed file at `path`, atomically (a temporary name, then rename)."""
    tmp = path.with_name(path.name + ".part")
    tmp.unlink(missing_ok=True)
    try:
        with SealedFile.create(tmp, key_id, case_key) as out:
            out.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def open_bytes(path: Path, keys: KeyLookup) -> bytes:
    with SealedFile.open(path, keys) as sealed:
        return sealed.read()


def key_id_of(path: Path) -> bytes:
    """The id of the key a sealed file was written with (from its header)."""
    with open(path, "rb") as f:
        header = f.read(HEADER_SIZE)
    if len(header) != HEADER_SIZE or not header.startswith(MAGIC):
        raise Tampered(f"{path.name} is not a sealed file")
    return bytes(_HEADER.unpack(header)[1])
