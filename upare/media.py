"""The media folder (`settings.media_dir`): stored avatar files, under names the server made.

A name is 32 random hex digits and `.png` (`secrets`, 128 bits), never anything a client
sent, so it can neither be guessed nor point outside the folder; `path` refuses any other
name, so a name read back from an event or a read model cannot either. A file is written
under a temporary name (a dot file) and renamed into place, so a reader never sees half of
one; it is flushed to disk first, as the event that names it will be.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path

NAME = re.compile(r"[0-9a-f]{32}\.png")


class Media:
    """The files of one media folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def store(self, data: bytes) -> str:
        """Write a new file holding `data` and return its name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{secrets.token_hex(16)}.png"
        descriptor, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.folder / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return name

    def _path(self, name: str) -> Path | None:
        """Return where the file of a server-made name is; None for any other name."""
        return self.folder / name if NAME.fullmatch(name) else None

    def read(self, name: str) -> bytes | None:
        """Return the file's bytes; None for a name the server did not make or a file gone."""
        path = self._path(name)
        try:
            return None if path is None else path.read_bytes()
        except FileNotFoundError:
            return None

    def remove(self, *names: str) -> None:
        """Delete these files, where they exist."""
        for name in names:
            path = self._path(name)
            if path is not None:
                path.unlink(missing_ok=True)
