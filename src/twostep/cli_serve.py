"""`twostep serve`: bind the address, build the app once, run uvicorn (one process or N workers)."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING, Any, NoReturn

from twostep.cli_support import (
    EXIT_CONFIGURATION,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    fail,
    friendly_errors,
    issuer_for,
    settings_or_exit,
)
from twostep.malloc_arenas import limit_malloc_arenas

if TYPE_CHECKING:
    from fastapi import FastAPI

    from twostep.settings import Settings


def listen(host: str, port: int) -> socket.socket:
    """Bind here, so that a busy port is a clear error (uvicorn alone exits 3, which means "not found")."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except socket.gaierror as exc:  # a mistake in the command, not a busy port: exit 2, naming --host
        sock.close()
        fail(
            f"--host {host}: not an address of this host nor a name it resolves ({exc.strerror}); "
            "give an address such as 127.0.0.1, 0.0.0.0, ::1 or ::",
            EXIT_CONFIGURATION,
        )
    except OSError as exc:
        sock.close()
        cannot_listen(host, port, exc)
    return sock


# What to do about a bind refused: before, every refusal advised stopping another server or another port.
LISTEN_ADVICE = {
    errno.EADDRINUSE: "stop the other server or pick --port",
    errno.EADDRNOTAVAIL: "no interface of this host has that address; pick another --host",
    errno.EACCES: "a port below 1024 needs root or CAP_NET_BIND_SERVICE; pick --port 1024 or above",
}


def cannot_listen(host: str, port: int, exc: OSError) -> NoReturn:
    """Stop with one line (exit 4) saying why the address cannot be bound and what to change."""
    advice = LISTEN_ADVICE.get(exc.errno or 0, "pick another --host or --port")
    fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}; {advice}", EXIT_UNAVAILABLE)


def hash_threads_per_worker(cores: int, workers: int) -> int:
    """Each worker's share of the cores for password hashing. More hashes at once than cores buy no
    throughput: they take turns on a core, each evicting the other's 19 MiB working area from the
    caches (the bench: ~1 ms more CPU per sign-in with two workers of two hashing threads on 2 cores)."""
    return max(1, cores // workers)


def unbracketed(host: str) -> str:
    """`[::1]`, an IPv6 address as a URL writes it, as the address itself (the socket and uvicorn take
    no brackets: `--host [::1]` stopped with "Name or service not known")."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def run_server(host: str, port: int, app_name: str, workers: int) -> None:
    limit_malloc_arenas()  # before any thread starts; see malloc_arenas
    host = unbracketed(host)
    from twostep.logs import configure_logging

    loaded = settings_or_exit()
    settings = issuer_for(loaded, host, port)
    configure_logging(settings.log_level, settings.log_format)
    # Said once the start's checks pass (a refused start says one line, its reason).
    local_issuer = loaded.stage != "dev" and "issuer" not in loaded.model_fields_set
    _keep_running_on_sighup(workers)  # from here: the app's build takes a second or more
    if workers > 1 and settings.storage == "memory":
        # Each worker would keep a storage of its own: a sign-in started on one is unknown to the other,
        # and a retry with the same Idempotency-Key that lands on the other texts the code again.
        fail(
            "TWOSTEP_STORAGE=memory lives in one process: --workers needs sqlite, postgres or dynamodb",
            EXIT_CONFIGURATION,
        )
    if workers > 1 and settings.storage == "sqlite" and str(settings.sqlite_path) == ":memory:":
        # The same, and each worker's database sealed its keys with a random master key of its own: a
        # token one worker signed was refused by the other.
        fail(
            "TWOSTEP_SQLITE_PATH=:memory: lives in one process: --workers needs a database file",
            EXIT_CONFIGURATION,
        )
    sock = listen(host, port)
    if workers == 1:
        _serve_in_this_process(settings, sock, host, port, app_name, local_issuer)
    else:
        _serve_in_workers(settings, sock, host, port, app_name, workers, local_issuer)


def _serve_in_this_process(
    settings: Settings, sock: socket.socket, host: str, port: int, app_name: str, local_issuer: bool
) -> None:
    import uvicorn

    from twostep.api.factory import build_asgi_app
    from twostep.api.metrics_folder import forget_earlier_runs

    forget_earlier_runs()  # before the app's metrics open their files there
    with friendly_errors():
        asgi = build_asgi_app(settings, app_name)
    _name_password_checks(asgi)
    if local_issuer:
        _warn_of_a_local_issuer(settings.issuer)
    server = uvicorn.Server(uvicorn.Config(asgi, **_uvicorn_options(settings, host, port)))
    _announce(host, port, "")
    server.run(sockets=[sock])
    if not server.started:
        fail("the server did not start; the log above says why", EXIT_REFUSED)


def _keep_running_on_sighup(workers: int) -> None:
    """SIGHUP replaces `--workers` one at a time once they serve (worker_supervisor); one process has
    nothing to hand its socket to. Unhandled, SIGHUP's default action killed the server at once (requests
    cut, no drain, no WAL checkpoint, no line in the log), also while it was still starting, and systemd
    counts that death as clean: the self-host unit's `systemctl reload` left the service down. It goes on
    and says why; the workers' supervisor installs its own handler when it takes over."""
    if hasattr(signal, "SIGHUP"):  # not on Windows
        signal.signal(signal.SIGHUP, _sighup_in_one_process if workers == 1 else _sighup_while_starting)


def _sighup_in_one_process(signum: int, frame: object) -> None:
    logging.getLogger("twostep").warning(
        "SIGHUP ignored: one process cannot be replaced while it serves; restart it to load new code, "
        "or serve with --workers 2 or more, which SIGHUP replaces one at a time"
    )


def _sighup_while_starting(signum: int, frame: object) -> None:
    logging.getLogger("twostep").warning(
        "SIGHUP ignored: the workers have not started yet, and start with the code installed now"
    )


def _serve_in_workers(
    settings: Settings,
    sock: socket.socket,
    host: str,
    port: int,
    app_name: str,
    workers: int,
    local_issuer: bool,
) -> None:
    import uvicorn

    from twostep.api.metrics_folder import shared_metrics_folder
    from twostep.api.served_apps import APP_FACTORIES

    _worker_environment(settings, workers)
    _check_in_a_child(app_name)
    if local_issuer:
        _warn_of_a_local_issuer(settings.issuer)
    config = uvicorn.Config(
        APP_FACTORIES[app_name], factory=True, workers=workers, **_uvicorn_options(settings, host, port)
    )
    slots = _worker_sockets(sock, host, port, workers)
    with shared_metrics_folder():  # the workers' metrics, added up by whichever answers /metrics
        from twostep.worker_supervisor import WorkerSupervisor

        started = WorkerSupervisor(config, slots, settings.shutdown_timeout_seconds).run()
    if not started:
        fail("the server did not start; the log above says why", EXIT_REFUSED)


def _uvicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    from twostep.api.edge import uvicorn_options

    return {
        "host": host,
        "port": port,
        "timeout_graceful_shutdown": settings.shutdown_timeout_seconds,
        **uvicorn_options(settings),  # proxy trust, slow-client deadlines, no access log
    }


def _check_in_a_child(app_name: str) -> None:
    """Build the app once before any worker starts, in a process of its own that then exits.

    The build checks the configuration and prepares the storage and the keys, so a mistake is one line
    from one process instead of N workers failing. In a child, what it loads (the app, its libraries:
    ~30 MiB) leaves with it, and the supervisor, which lives as long as the workers, stays small.
    """
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(target=_build_and_close, args=(app_name,))
    child.start()
    child.join()
    code = child.exitcode or 0  # set once joined; negative: the signal that ended it
    if code > 0:
        raise SystemExit(code)  # it said why: `friendly_errors`' one line, or a traceback
    if code < 0:
        fail(f"checking the app was stopped by signal {-code}", EXIT_REFUSED)


def _build_and_close(app_name: str) -> None:
    """The child of `_check_in_a_child`: the app built exactly as each worker will build it (from the
    environment the supervisor prepared, whose settings it already checked), then its container closed."""
    from twostep.api.factory import app_from_environment

    with friendly_errors():
        asgi = app_from_environment(app_name)
    _name_password_checks(asgi)
    asgi.state.container.close()


def _name_password_checks(asgi: FastAPI) -> None:
    # Which code checks passwords decides most of a sign-in's CPU (docs/operations.md, "What a sign-in costs").
    logging.getLogger("twostep").info("password checks: %s", asgi.state.container.passwords.computed_by())


def _warn_of_a_local_issuer(issuer: str) -> None:
    # Outside dev the issuer is the public URL clients and verifiers know: the listening address names
    # this host only (`http://127.0.0.1:8000` behind a proxy or in the container), so the discovery
    # document's `jwks_uri` leads nowhere and a verifier configured with the public URL refuses every token.
    logging.getLogger("twostep").warning(
        "TWOSTEP_ISSUER is not set: tokens and the discovery document name %s, the listening address; "
        "set it to the service's public base URL (https://auth.example.com)",
        issuer,
    )


def _announce(host: str, port: int, how: str) -> None:
    # uvicorn announces the address only when it binds the socket itself; these were bound here.
    shown = f"[{host}]" if ":" in host else host
    logging.getLogger("twostep").info("serving on http://%s:%d%s (Ctrl+C to stop)", shown, port, how)


def _worker_environment(settings: Settings, workers: int) -> None:
    """What each worker reads with its settings: the same issuer, its share of the hashing cores."""
    os.environ["TWOSTEP_ISSUER"] = settings.issuer
    if settings.password_hash_threads is None:
        from twostep.cores import usable_cores

        threads = hash_threads_per_worker(usable_cores(), workers)
        os.environ["TWOSTEP_PASSWORD_HASH_THREADS"] = str(threads)


def _worker_sockets(checked: socket.socket, host: str, port: int, workers: int) -> list[socket.socket]:
    """The workers' listening sockets, bound where `checked` proved the port free (and then released:
    a socket bound without SO_REUSEPORT would keep the workers' sockets out)."""
    from twostep.worker_supervisor import bind_worker_sockets

    checked.close()
    try:
        return bind_worker_sockets(host, port, workers)
    except OSError as exc:
        cannot_listen(host, port, exc)
