"""What is wrong with `TWOSTEP_SQLITE_PATH` before SQLite is asked to open it.

SQLite reports a folder, a missing folder or a file it may not write as "unable to open database file",
a storage failure (exit 4, "try again") that names no setting; each is a setting to correct, so a start
stops on one line naming the variable and the cause (exit 2), like every other bad setting.
"""

from __future__ import annotations

import os
from pathlib import Path

from twostep.domain.errors import ConfigurationError


def check_sqlite_path(path: Path) -> None:
    """Refuse a path SQLite cannot keep a database at.

    Raises:
        ConfigurationError: naming TWOSTEP_SQLITE_PATH, the path and why.
    """
    name = str(path)
    if name == ":memory:":
        return  # SQLite's own name, not a file
    # SQLite opens `file:twostep.db` as the URI of ./twostep.db, so the checks here, the new file's
    # 0600 and the dev master key beside it all missed the real file (made 0644 by the umask).
    uri = name.startswith("file:")  # as SQLite tells one (case-sensitive)
    cause = "is a SQLite URI; give the database file's path (e.g. ./twostep.db)" if uri else _problem(path)
    if cause is not None:
        raise ConfigurationError(f"TWOSTEP_SQLITE_PATH: {path} {cause}")


def _problem(path: Path) -> str | None:
    folder = path.parent
    if path.is_dir():
        return "is a folder; name the database file in it (e.g. twostep.db)"
    if not folder.exists():
        return f"cannot be made: its folder {folder} does not exist"
    if not folder.is_dir():
        return f"cannot be made: {folder} is not a folder"
    if path.exists():
        # A database that is there but read-only (a file system remounted read-only) is storage trouble,
        # reported by the storage naming the file (docs/failures.md); one this process may not read at
        # all is a setting to correct.
        return None if os.access(path, os.R_OK) else "cannot be read by this process (permission denied)"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot be made: its folder {folder} is not writable by this process"
    return None
