"""The self-host guide's nginx site, run as written (a test certificate, loopback ports) in front of a live
`twostep serve`, and a browser-like sign-in through it over TLS."""

from __future__ import annotations

import json
import re
import ssl
from pathlib import Path

import httpx
import pytest

from tests.certificate_authority import CertificateAuthority
from tests.live import ServerProcess
from tests.reverse_proxy import MISSING, NGINX, Nginx

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs/guides/self-host.md"
PASSWORD = "correct horse battery staple"
PHONE = "+14155552671"

pytestmark = pytest.mark.skipif(NGINX is None, reason=MISSING)


def guide_site() -> str:
    """The ```nginx block after the guide's `<!-- nginx site` marker."""
    text = GUIDE.read_text()
    [block] = re.compile(r"```nginx\n(.*?)```", re.S).findall(text, text.index("<!-- nginx site"))[:1]
    return block


def site_on_loopback(site: str, cert: Path, key: Path) -> str:
    """The guide's site with only what a test must change: its port, certificate and upstream port (as
    `Nginx` fills them in)."""
    assert "listen 443 ssl;" in site and "proxy_pass http://127.0.0.1:8000;" in site
    site = site.replace("{", "{{").replace("}", "}}")
    site = site.replace("listen 443 ssl;", "listen 127.0.0.1:{port} ssl;")
    site = site.replace("127.0.0.1:8000", "127.0.0.1:{upstream}")
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", site)
    return re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)


def audited_ips(server: ServerProcess) -> set[str]:
    result = server.cli("audit", "tail", "--json", "--last", "1000")
    assert result.returncode == 0, result.stderr
    return {row["ip"] for row in json.loads(result.stdout) if row["ip"]}


@pytest.mark.parametrize("workers", ["1", "2"])  # the guide's unit serves with --workers 2
def test_the_guides_nginx_site_serves_a_sign_in_over_tls(tmp_path: Path, workers: str) -> None:
    authority = CertificateAuthority(tmp_path)
    issued = authority.issue("127.0.0.1", certificate="fullchain.pem", key="privkey.pem")
    tls = ssl.create_default_context(cafile=str(authority.path))
    site = site_on_loopback(guide_site(), issued.certificate, issued.key)
    with (
        ServerProcess(
            tmp_path, serve_args=("--workers", workers), TWOSTEP_TRUSTED_PROXIES="127.0.0.1"
        ) as server,
        Nginx(tmp_path, server.port, server=site, tls=tls) as proxy,
    ):
        transport = httpx.HTTPTransport(verify=tls, local_address="127.0.0.9")
        web = {"X-Twostep-Client": "web", "X-Forwarded-For": "203.0.113.7"}  # the forgery counts for nothing
        with httpx.Client(base_url=proxy.base_url, transport=transport, headers=web, timeout=30) as browser:
            user = {"firstName": "Ada", "lastName": "L", "email": "ada@example.com", "password": PASSWORD}
            assert browser.post("/register", json=user | {"phoneNumber": PHONE}).status_code == 201
            started = browser.post("/login", json={"email": user["email"], "password": PASSWORD})
            assert started.status_code == 200, started.text
            assert started.headers["strict-transport-security"] == "max-age=31536000"
            verified = browser.post(
                f"/otp/{started.json()['otpId']}/verify", json={"otp": server.latest_code(PHONE)}
            )
            assert verified.status_code == 200, verified.text
            assert "Secure" in verified.headers["set-cookie"] and verified.json()["refreshToken"] is None
            assert browser.post("/token/refresh").status_code == 200  # the __Host- cookie, kept over https
            assert browser.post("/logout").status_code == 204
            forged = browser.get(
                "/.well-known/openid-configuration", headers={"X-Forwarded-Host": "evil.test"}
            )
            assert forged.json()["issuer"] == server.env["TWOSTEP_ISSUER"]
            assert browser.get("/sessions/", headers={"Host": "evil.test"}).headers["location"] == "/sessions"
            assert browser.get("/metrics").status_code == 403
        audited = audited_ips(server)
    assert "127.0.0.9" in audited
    assert not any(ip.startswith("203.0.113.") for ip in audited), audited
