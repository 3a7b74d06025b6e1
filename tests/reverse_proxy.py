"""A real nginx (Debian's) in front of a live `twostep serve`, on a free loopback port, for edge tests."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import httpx

from tests.live import free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
MISSING = "nginx is missing (`make test` installs Debian's nginx-light)"

CONFIG = """
{user}
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
{server}
}}
"""

SERVER = """
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;
            # The usual set-up: append the address nginx saw to whatever the client claimed.
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
"""


class Nginx:
    """`nginx -g 'daemon off;'` proxying 127.0.0.1:<port> to `upstream`; a context manager.

    `server`: a server block of one's own (a guide's), given `port` and `upstream` by `str.format`;
    `tls`: an SSL context trusting its certificate, when it listens with `ssl`."""

    def __init__(
        self, workdir: Path, upstream: int, server: str = SERVER, tls: ssl.SSLContext | None = None
    ) -> None:
        assert NGINX is not None, MISSING
        self.workdir = workdir / "nginx"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.verify: ssl.SSLContext | bool = tls or True
        user = "user root;" if os.geteuid() == 0 else ""  # workers may then write the temp folders here
        block = server.format(port=self.port, upstream=upstream)
        config = CONFIG.format(user=user, workdir=self.workdir, server=block)
        self.config = self.workdir / "nginx.conf"
        self.config.write_text(config)
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        assert NGINX is not None
        command = [NGINX, "-p", str(self.workdir), "-c", str(self.config), "-g", "daemon off;"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.error_log()
            try:
                httpx.get(f"{self.base_url}/openapi.json", timeout=1, verify=self.verify)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"nginx did not answer: {self.error_log()}")

    def error_log(self) -> str:
        log = self.workdir / "nginx-error.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
