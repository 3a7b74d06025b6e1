"""`/metrics` of a live `twostep serve`: a sign-in's funnel, request counts by route, who may read it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live import ServerProcess
from tests.reverse_proxy import MISSING, NGINX, Nginx

PHONE = "+14155552671"
PASSWORD = "correct horse battery staple"
TOKEN = "metrics-token-for-the-test"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def sign_in_with_one_wrong_code(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        user = {"firstName": "Ada", "lastName": "Lovelace", "email": "m@example.com", "password": PASSWORD}
        assert client.post("/register", json=user | {"phoneNumber": PHONE}).status_code == 201
        otp_id = client.post("/login", json={"email": user["email"], "password": PASSWORD}).json()["otpId"]
        code = server.latest_code(PHONE)
        wrong = "0" * len(code) if code != "0" * len(code) else "1" * len(code)
        assert client.post(f"/otp/{otp_id}/verify", json={"otp": wrong}).status_code == 401
        assert client.post(f"/otp/{otp_id}/verify", json={"otp": code}).status_code == 200


@pytest.mark.parametrize("workers", ["1", "2"])
def test_metrics_count_a_sign_in(tmp_path: Path, workers: str) -> None:
    with ServerProcess(tmp_path, serve_args=("--workers", workers)) as server:
        sign_in_with_one_wrong_code(server)
        for _ in range(3):  # with several workers, whichever answers sums them all
            found = samples(httpx.get(f"{server.base_url}/metrics").text)
            labels = {"purpose": "login", "country": "US", "provider": "console"}
            for stage, count in (
                ("requested", 1),
                ("sent", 1),
                ("failed", 1),
                ("verified", 1),
                ("expired", 0),
            ):
                assert value(found, "twostep_codes_total", stage=stage, **labels) == count, stage
            route = "/otp/{otp_id}/verify"
            assert value(found, "twostep_http_requests_total", method="POST", route=route, status="401") == 1
            assert value(found, "twostep_http_requests_total", method="POST", route=route, status="200") == 1
            assert value(found, "twostep_sms_budget_used") == 1
            assert ("twostep_password_hash_queue", ()) in found


def test_pages_outside_the_api_count_under_their_path(tmp_path: Path) -> None:
    """Before, `/openapi.json` and the docs' assets (routes that are not the API's) were counted under
    `route="unmatched"` with status 200, mixed with the 404s of unknown paths. They now count under their
    path template; only paths that match nothing stay "unmatched"."""
    with ServerProcess(tmp_path) as server:
        for path in ("/openapi.json", "/docs/assets/swagger-ui.css", "/no-such-page"):
            httpx.get(f"{server.base_url}{path}")
        found = samples(httpx.get(f"{server.base_url}/metrics").text)
    requests = "twostep_http_requests_total"
    assert value(found, requests, method="GET", route="/openapi.json", status="200") >= 1  # + readiness polls
    assert value(found, requests, method="GET", route="/docs/assets/{path}", status="200") == 1
    assert value(found, requests, method="GET", route="unmatched", status="404") == 1
    assert value(found, requests, method="GET", route="unmatched", status="200") == 0


def test_metrics_need_the_token_when_set(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, TWOSTEP_METRICS_TOKEN=TOKEN) as server:
        url = f"{server.base_url}/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200 and "twostep_http_requests_total" in answer.text


def test_metrics_refuse_callers_off_this_host(tmp_path: Path) -> None:
    """Without a token only loopback callers read them; a client behind the trusted proxy is not one."""
    with ServerProcess(tmp_path, TWOSTEP_TRUSTED_PROXIES="127.0.0.1/32") as server:
        url = f"{server.base_url}/metrics"
        assert httpx.get(url, headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 403
        assert httpx.get(url).status_code == 200
        assert httpx.get(f"{server.base_url}/openapi.json").json()["paths"].get("/metrics") is None


@pytest.mark.skipif(NGINX is None, reason=MISSING)
def test_metrics_refuse_clients_of_a_proxy_not_trusted(tmp_path: Path) -> None:
    """Before, nginx on this host in front of a server without TWOSTEP_TRUSTED_PROXIES (the forwarded
    headers ignored, as they should be) made every client of the proxy a loopback caller: anyone who
    reached the proxy read the metrics. A request that names a client of a proxy is not a loopback one."""
    with ServerProcess(tmp_path) as server, Nginx(tmp_path, server.port) as proxy:
        assert httpx.get(f"{proxy.base_url}/metrics").status_code == 403
        refused = httpx.get(f"{server.base_url}/metrics", headers={"Forwarded": "for=203.0.113.5"})
        assert refused.status_code == 403
        assert "proxy" in refused.json()["detail"]
        assert httpx.get(f"{server.base_url}/metrics").status_code == 200  # a scrape on this host


def test_a_dead_workers_gauges_leave_the_figures(tmp_path: Path) -> None:
    """Before, nothing dropped an exited worker's gauges from the shared metrics folder: its last hash
    queue (`livesum`) and budget count (`max`) stayed in `/metrics` for good. Now the supervisor drops
    them when a worker dies, is replaced on SIGHUP, or stops."""
    folder = tmp_path / "metrics"  # named by the operator, so it outlives the server and can be looked at
    folder.mkdir()
    server = ServerProcess(tmp_path, serve_args=("--workers", "2"), PROMETHEUS_MULTIPROC_DIR=str(folder))
    with server:
        sign_in_with_one_wrong_code(server)
        assert value(samples(httpx.get(f"{server.base_url}/metrics").text), "twostep_sms_budget_used") == 1
        dead = server.worker_pids()
        for pid in dead:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while server.worker_pids() & dead or len(server.worker_pids()) < 2:
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.1)
        assert not live_gauge_files(folder, dead)
        found = samples(httpx.get(f"{server.base_url}/metrics").text)
        assert value(found, "twostep_sms_budget_used") == 0  # no worker alive has counted a text
        served = server.worker_pids()
        assert live_gauge_files(folder, served)  # the replacements' own
    assert not live_gauge_files(folder, served)  # stopped: gone too


def live_gauge_files(folder: Path, pids: set[int]) -> list[str]:
    return [path.name for path in folder.glob("gauge_live*.db") if int(path.stem.rsplit("_", 1)[1]) in pids]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_named_folder_forgets_an_earlier_run(tmp_path: Path, workers: str) -> None:
    """Before, a `PROMETHEUS_MULTIPROC_DIR` the operator named kept the files of the run before: after an
    unclean stop (the supervisor killed, the host's OOM killer) nobody had dropped its workers' gauges, and
    the new server's `/metrics` reported the dead workers' budget count (and their queue) for good, beside
    counters it never counted. The server now empties the folder of such files when it starts; a server of
    one process (which also writes there when the folder is set) did not, and now does too."""
    import subprocess
    import sys

    folder = tmp_path / "metrics"
    folder.mkdir()
    earlier_run = (  # what a worker of a killed server leaves: its gauges and counters, never marked dead
        "from prometheus_client import Counter, Gauge\n"
        "Gauge('twostep_sms_budget_used', 'x', multiprocess_mode='livemax').set(7)\n"
        "Counter('twostep_limit_refusals', 'x', ['limit']).labels('login_per_ip').inc(5)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    subprocess.run([sys.executable, "-c", earlier_run], env=env, check=True, timeout=60)
    assert list(folder.glob("gauge_live*.db"))
    (folder / "notes.txt").write_text("the operator's own file stays")
    with ServerProcess(
        tmp_path, serve_args=("--workers", workers), PROMETHEUS_MULTIPROC_DIR=str(folder)
    ) as server:
        found = samples(httpx.get(f"{server.base_url}/metrics").text)
    assert value(found, "twostep_sms_budget_used") == 0
    assert value(found, "twostep_limit_refusals_total", limit="login_per_ip") == 0
    assert (folder / "notes.txt").exists()
