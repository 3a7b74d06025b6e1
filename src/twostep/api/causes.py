"""Why a dependency failed, in a few words for the log and the readiness probe.

Every 503 used to log the same line whether the database was locked, the disk full, the file read-only
or the process out of file descriptors. The drivers say which; this reads what they say, by duck typing
(SQLite's `sqlite_errorname`, an `OSError`'s errno, botocore's error code, PostgreSQL's SQLSTATE, an SMTP
server's reply code), so the API needs none of the drivers. Driver messages are not copied: they can hold
paths, connection strings or an email address.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator

_ERRNO = {
    errno.EMFILE: "out of file descriptors",
    errno.ENFILE: "out of file descriptors (system-wide)",
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted (read-only or immutable file)",
    errno.ENOENT: "file or folder missing",
    errno.ECONNREFUSED: "connection refused",
    errno.ETIMEDOUT: "timed out",
    errno.EIO: "I/O error",
}
_SQLITE = (  # by prefix of the extended result code name, most specific first
    ("SQLITE_BUSY", "locked (another writer holds the database)"),
    ("SQLITE_LOCKED", "locked (another writer holds the database)"),
    ("SQLITE_READONLY", "read-only database"),
    ("SQLITE_FULL", "disk full"),
    ("SQLITE_CANTOPEN", "cannot open the database file"),
    ("SQLITE_CORRUPT", "corrupt database file"),
    ("SQLITE_NOTADB", "not a database file"),
    ("SQLITE_IOERR", "I/O error"),
)
_POSTGRES = {
    "53100": "disk full",
    "53200": "out of memory",
    "53300": "too many connections",
    "25006": "read-only",
    "57014": "statement timed out (server slow, or a table locked)",
    "57P01": "server shutting down",
    "57P03": "server starting up or shutting down",
    "28P01": "password authentication failed",
    "3D000": "no such database",
}
# A connection that failed to open carries no SQLSTATE (psycopg keeps none for it), only libpq's message,
# which names hosts, users and files: what it says is read from fixed phrases, most specific first, and
# never copied. Before, each was "no database connection in time (server unreachable...)", the server
# up and refusing.
_POSTGRES_CONNECT = (
    ("password authentication failed", "password authentication failed"),
    ("no password supplied", "no password given (none in the URL, PGPASSWORD or .pgpass)"),
    (
        "no pg_hba.conf entry",
        "refused by the server's pg_hba.conf (no line for this user, database, address or encryption)",
    ),
    (
        "certificate verify failed",
        "TLS: the server's certificate is not signed by a trusted CA (sslrootcert)",
    ),
    ("does not match host name", "TLS: the server's certificate does not name the host connected to"),
    ("root certificate file", "TLS: the sslrootcert file is missing or unreadable"),
    ("server does not support SSL", "TLS: the server does not offer it (sslmode asks for it)"),
    ("SSL", "TLS: the handshake failed"),
    ("does not exist", "no such database or role"),
    ("Connection refused", "connection refused"),
    ("timeout expired", "timed out connecting"),
    ("could not translate host name", "host name not found"),
    ("failed to resolve host", "host name not found"),
)
# How psycopg begins the message of a connection that failed to open (a statement on one that broke
# says otherwise: "consuming input failed", "server closed the connection unexpectedly").
_CONNECT_FAILED = ("connection failed", "connection is bad", "failed to resolve host")
# psycopg's errors that carry no SQLSTATE (nothing came from the server), by class name: the pool's
# "no connection in time", and a connection that broke or never opened.
_POSTGRES_CLIENT = {
    "PoolTimeout": "no database connection in time (server unreachable, or every pooled connection busy)",
    "OperationalError": "database connection lost or refused",
}


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _out_of_descriptors() -> bool:
    """SQLite reports EMFILE as "unable to open database file": check whether one more fd can open."""
    try:
        os.close(os.open(os.devnull, os.O_RDONLY))
    except OSError as exc:
        return exc.errno in (errno.EMFILE, errno.ENFILE)
    return False


def _postgres(error: BaseException) -> str | None:
    """A psycopg error's SQLSTATE, or (none: nothing came from the server) what its class says."""
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return f"{_POSTGRES.get(sqlstate, 'database error')} (SQLSTATE {sqlstate})"
    if sqlstate is None and hasattr(error, "pgconn"):  # psycopg's, duck-typed: the API needs no driver
        said = str(error)
        if said.startswith(_CONNECT_FAILED):
            return next((text for phrase, text in _POSTGRES_CONNECT if phrase in said), None) or (
                "database connection refused"
            )
        return _POSTGRES_CLIENT.get(type(error).__name__)
    return None


def _smtp_reply(error: BaseException) -> str | None:
    """smtplib's reply errors: the server's reply code, not its text (which can name the recipient)."""
    code = getattr(error, "smtp_code", None)
    return f"SMTP {code}" if isinstance(code, int) and code > 0 else None  # -1: no reply at all


def _one(error: BaseException) -> str | None:
    name = getattr(error, "sqlite_errorname", None)
    if isinstance(name, str):
        if name.startswith("SQLITE_CANTOPEN") and _out_of_descriptors():
            return f"out of file descriptors ({name})"
        return next((f"{text} ({name})" for prefix, text in _SQLITE if name.startswith(prefix)), name)
    if isinstance(error, OSError) and error.errno in _ERRNO:
        return _ERRNO[error.errno]
    found = _postgres(error) or _smtp_reply(error)
    if found:
        return found
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code  # e.g. ProvisionedThroughputExceededException, AccessDeniedException
    return None


def describe_cause(error: BaseException) -> str:
    """The most telling cause in `error`'s chain, else the innermost exception's type name."""
    chain = list(_chain(error))
    for link in chain:
        found = _one(link)
        if found:
            return found
    reason = getattr(error, "reason", None)  # an SMS delivery failure names its own reason
    if isinstance(reason, str) and reason:
        return reason
    if _out_of_descriptors():
        return "out of file descriptors"
    return type(chain[-1]).__name__ if len(chain) > 1 else str(getattr(error, "code", type(error).__name__))
