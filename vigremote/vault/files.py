"""The one door to a family's files: every media file, cache and export is sealed (sealed.py).

Code that writes a recording segment, a clip, a still, a thumbnail or a playback copy asks the
Vault for a file object instead of opening the path itself; PyAV muxes into it and demuxes from
it as from any file. A file's case comes from its place (`<data>/cases/<case>/…`, paths the
server built from its own ids: paths.py), so its key is that case's key (keyring.py).
"""

from __future__ import annotations

from pathlib import Path

from vigremote.vault.keyring import Keyring
from vigremote.vault.sealed import SealedFile, Tampered, finish_unfinished, open_bytes, seal_bytes


class Vault:
    def __init__(self, data_dir: Path, keyring: Keyring) -> None:
        self.cases_dir = (data_dir / "cases").resolve()
        self.keyring = keyring

    def case_of(self, path: Path) -> str:
        """The case a file belongs to, from where it lies; ValueError outside a case folder."""
        relative = path.resolve().relative_to(self.cases_dir)  # ValueError if outside
        if len(relative.parts) < 2:
            raise ValueError(f"{path} is not inside a case's folder")
        return relative.parts[0]

    def create(self, path: Path) -> SealedFile:
        """A new sealed file (refused if the path exists): write, then close()."""
        key_id, key = self.keyring.case_key(self.case_of(path))
        return SealedFile.create(path, key_id, key)

    def create_replacing(self, path: Path) -> SealedFile:
        """A new sealed file at `path`, removing a stale one (a leftover `.part`)."""
        path.unlink(missing_ok=True)
        return self.create(path)

    def open(self, path: Path, allow_unfinished: bool = False) -> SealedFile:
        """A sealed file to read (PyAV: `av.open(vault.open(path))`). Tampered if altered."""
        return SealedFile.open(path, self.keyring.lookup, allow_unfinished=allow_unfinished)

    def write_bytes(self, path: Path, data: bytes) -> None:
        """Seal `data` into `path`, replacing it atomically."""
        key_id, key = self.keyring.case_key(self.case_of(path))
        seal_bytes(path, data, key_id, key)

    def read_bytes(self, path: Path) -> bytes:
        return open_bytes(path, self.keyring.lookup)

    def read_text(self, path: Path) -> str:
        return self.read_bytes(path).decode("utf-8")

    def write_text(self, path: Path, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def plain_size(self, path: Path, allow_unfinished: bool = False) -> int:
        with self.open(path, allow_unfinished=allow_unfinished) as sealed:
            return sealed.size

    def finish_unfinished(self, path: Path) -> int:
        """A file whose writer died (SIGKILL): check it and mark its end; its plaintext size."""
        return finish_unfinished(path, self.keyring.lookup)

    def check(self, path: Path) -> None:
        """Read the whole file once: Tampered if any byte of it was changed."""
        with self.open(path) as sealed:
            while sealed.read(1 << 20):
                pass


__all__ = ["Tampered", "Vault"]
