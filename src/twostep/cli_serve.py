"""`twostep serve`: bind the address, build the app once, run uvicorn (one process or N workers)."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from twostep.cli_support import (
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    fail,
    friendly_errors,
    issuer_for,
    settings_or_exit,
)
from twostep.malloc_arenas import limit_malloc_arenas


def listen(host: str, port: int) -> socket.socket:
    """Bind here, so that a busy port is a clear error (uvicorn alone exits 3, which means "not found")."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; stop the other server or pick --port",
            EXIT_UNAVAILABLE,
        )
    return sock


def hash_threads_per_worker(cores: int, workers: int) -> int:
    """Each worker's share of the cores for password hashing. More hashes at once than cores buy no
    throughput: they take turns on a core, each evicting the other's 19 MiB working area from the
    caches (the bench: ~1 ms more CPU per sign-in with two workers of two hashing threads on 2 cores)."""
    return max(1, cores // workers)


def run_server(host: str, port: int, app_name: str, workers: int) -> None:
    limit_malloc_arenas()  # before any thread starts; see malloc_arenas
    import uvicorn

    from twostep.api.edge import uvicorn_options
    from twostep.api.factory import FACTORIES, build_asgi_app
    from twostep.api.metrics_prometheus import shared_metrics_folder
    from twostep.logs import configure_logging

    settings = issuer_for(settings_or_exit(), host, port)
    configure_logging(settings.log_level, settings.log_format)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "timeout_graceful_shutdown": settings.shutdown_timeout_seconds,
        **uvicorn_options(settings),  # proxy trust, slow-client deadlines, no access log
    }
    sock = listen(host, port)
    with friendly_errors():
        asgi = build_asgi_app(settings, app_name)
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(asgi, **options))
        # uvicorn announces the address only when it binds the socket itself; this one was bound above.
        shown = f"[{host}]" if ":" in host else host
        logging.getLogger("twostep").info("serving on http://%s:%d (Ctrl+C to stop)", shown, port)
        server.run(sockets=[sock])
        if not server.started:
            fail("the server did not start; the log above says why", EXIT_REFUSED)
        return
    # Built once here to check the configuration and prepare storage and keys before any worker starts,
    # so a mistake is one line from this process instead of N workers failing; each worker builds its own.
    asgi.state.container.close()
    sock.close()  # the port was free a moment ago; uvicorn's supervisor binds it for its workers
    os.environ["TWOSTEP_ISSUER"] = settings.issuer  # workers read settings themselves: same issuer
    if settings.password_hash_threads is None:
        from twostep.container import usable_cores

        threads = hash_threads_per_worker(usable_cores(), workers)
        os.environ["TWOSTEP_PASSWORD_HASH_THREADS"] = str(threads)
    try:
        with shared_metrics_folder():  # the workers' metrics, added up by whichever answers /metrics
            uvicorn.run(FACTORIES[app_name], factory=True, workers=workers, **options)
    except SystemExit as exc:
        if exc.code not in (0, None):
            fail("the server did not start; the log above says why", EXIT_REFUSED)
        raise
