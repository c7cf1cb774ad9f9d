"""Files that hold residents' data are the owner's alone: the data folder 0700, the SQLite
files (closeloop's and the embedded Temporal server's), the key and the logs 0600.

``closeloop`` also sets the umask to 077 as it starts, so whatever else it or the dev
server creates follows; these helpers put right what an earlier version left open.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

#: What SQLite keeps beside a database file (the journal is created with the file's mode).
SIDECARS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """``path`` exists, mode 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def private_file(path: Path) -> None:
    """``path`` exists (empty if it did not), mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def private_sqlite(path: Path, *, create: bool = True) -> None:
    """The SQLite database ``path`` exists, mode 0600, and so do its journal files when
    they exist (SQLite creates them with the database's mode). ``create=False`` leaves a
    missing file missing (the Temporal dev server sets up its schema only in a new file)."""
    if create:
        private_file(path)
    for suffix in ("", *SIDECARS):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path.with_name(path.name + suffix), 0o600)


def sqlite_path(database_url: str) -> Path | None:
    """The file a SQLite URL names; None for another database or an in-memory one."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        return None
    return Path(database)


def write_once(path: Path, text: str) -> bool:
    """Make ``path`` hold ``text`` (mode 0600) unless it exists; True when this call made
    it. The text is written whole to a file of its own and then linked into place, so a
    process starting at the same moment reads either no file or all of it, never half."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    draft = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            return False  # another process's file won: it is the one
    finally:
        draft.unlink(missing_ok=True)
    return True
