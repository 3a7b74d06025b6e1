"""The README's five-minute tour (and the quick start's copy of it), run with bash exactly as written
against a live `twostep serve`: only the base URL differs, through the `TWOSTEP` variable the tour reads."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml  # type: ignore[import-untyped]

from tests.live import SRC, ServerProcess, free_port, run_cli, server_env
from twostep.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TOUR_DOCUMENTS = ["README.md", "docs/quickstart.md"]


def tour_block(document: Path) -> str:
    """The first ```sh block after the tour heading."""
    text = document.read_text()
    start = text.index("five-minute tour")
    match = re.compile(r"```sh\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"{document} has no sh block after its tour heading"
    return match.group(1)


def test_both_documents_show_the_same_tour() -> None:
    assert tour_block(ROOT / "README.md") == tour_block(ROOT / "docs/quickstart.md")


def test_the_tour_has_no_placeholders() -> None:
    block = tour_block(ROOT / "README.md")
    assert not re.search(r"<[a-zA-Z][\w -]*>", block), "use shell variables, not <placeholders>"
    assert "TWOSTEP=${TWOSTEP:-http://127.0.0.1:8000}" in block


@pytest.mark.parametrize("document", TOUR_DOCUMENTS)
def test_the_tour_runs_as_written(document: str, tmp_path: Path) -> None:
    block = tour_block(ROOT / document)
    with ServerProcess(tmp_path / "server") as server:
        env = server.env | {"TWOSTEP": server.base_url}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=ROOT,  # the tour runs `.venv/bin/twostep` from the repository's folder
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert '"email":"ada@example.com"' in lines[0], result.stdout
    assert lines[-1] == '{"message":"Hello, ada@example.com!"}', result.stdout
    assert "sign-in code" in result.stdout  # the outbox step shows the text


def test_the_verification_api_example_runs_as_written(tmp_path: Path) -> None:
    text = (ROOT / "docs/verification-api.md").read_text()
    start = text.index("<!-- verification example")
    match = re.compile(r"```sh\n(.*?)```", re.S).search(text, start)
    assert match is not None
    with ServerProcess(tmp_path / "server", app="verification") as server:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", match.group(1)],
            cwd=ROOT,
            env=server.env | {"VERIFY": server.base_url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    created, verified = result.stdout.strip().splitlines()
    assert '"auth_id":"signup-42"' in created and '"attempts_left":3' in created
    assert verified.startswith('{"authenticated":true'), verified


def marked_blocks(document: str, marker: str, language: str = "sh") -> list[str]:
    """The ```language blocks after `<!-- marker`, in order."""
    text = (ROOT / document).read_text()
    blocks = re.compile(rf"```{language}\n(.*?)```", re.S).findall(text, text.index(f"<!-- {marker}"))
    assert blocks, f"{document} has no {language} block after <!-- {marker}"
    return blocks


def marked_block(document: str, marker: str) -> str:
    """The first ```sh block after `<!-- marker`."""
    return marked_blocks(document, marker)[0]


def test_the_flowroute_migration_starts_as_written(tmp_path: Path) -> None:
    """The migration guide's prod command for the standalone verification service, run as written (the
    installed `twostep` as `python -m twostep`, a free loopback port): it must serve. Before, it lacked the
    master key the prod stage requires. It names no email provider: the verification app sends no email,
    and before it stopped at start-up all the same with
    `TWOSTEP_EMAIL_PROVIDER: the console provider is refused in prod`."""
    port = free_port()
    block = marked_block("docs/guides/migrate-flowroute.md", "flowroute example")
    assert "--host 0.0.0.0 --port 8000" in block
    assert "TWOSTEP_EMAIL_PROVIDER" not in block and "TWOSTEP_SMTP" not in block
    block = block.replace(".venv/bin/twostep", f"{sys.executable} -m twostep")
    block = block.replace("--host 0.0.0.0 --port 8000", f"--host 127.0.0.1 --port {port}")
    env = {key: value for key, value in os.environ.items() if not key.startswith("TWOSTEP_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(SRC)) if p)
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        answer = _first_answer(f"http://127.0.0.1:{port}", server)
        assert answer is not None, log.read_text()[-2000:]
        assert answer.status_code == 401 and answer.json()["reason"] == "InvalidApiKey", answer.text
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _first_answer(base_url: str, server: subprocess.Popen[bytes]) -> httpx.Response | None:
    """A keyless create's answer once the server listens; None if it exits or never listens."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            return httpx.post(f"{base_url}/", json={"auth_id": "a-1", "recipient": "14155552671"}, timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
    return None


def test_the_keyed_verification_example_runs_as_written(tmp_path: Path) -> None:
    """The full API's keyed example, against a server with the settings its comment names. Before, the
    page showed a request with its own `message` under a plain key, which answers 400
    `message_not_allowed` unless the key's tenant has `allow_message`, and did not say so."""
    block = marked_block("docs/verification-api.md", "keyed verification example")
    settings = dict(
        shlex.split(line.removeprefix("#").strip())[0].split("=", 1)
        for line in block.splitlines()
        if line.startswith("#   TWOSTEP_")
    )
    assert set(settings) == {"TWOSTEP_VERIFY_API_KEYS", "TWOSTEP_VERIFY_TENANTS"}
    with ServerProcess(tmp_path / "server", **settings) as server:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            env=server.env | {"TWOSTEP": server.base_url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        texts = server.outbox("+4915112345678")
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"auth_id":"order-7"' in result.stdout and '"attempts_left":5' in result.stdout, result.stdout
    assert re.fullmatch(r"\d{8} confirms your twostep order\. Valid 5 min\.", texts[-1]["body"]), texts


def test_the_cancel_example_runs_as_written(tmp_path: Path) -> None:
    block = marked_block("docs/verification-api.md", "cancel example")
    settings = dict(
        line.removeprefix("#").strip().split("=", 1)
        for line in block.splitlines()
        if line.startswith("#   TWOSTEP_")
    )
    assert settings == {"TWOSTEP_VERIFY_API_KEYS": "change-me"}
    with ServerProcess(tmp_path / "server", **settings) as server:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            env=server.env | {"TWOSTEP": server.base_url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        created, answer = result.stdout.splitlines()
        assert '"auth_id":"order-8"' in created, result.stdout
        assert answer == (
            '{"message":"Success: Verification code canceled.","auth_id":"order-8","status":"canceled"}'
        )
        code = server.latest_code("+4915112345678")
        check = httpx.get(
            f"{server.base_url}/verifications",
            params={"auth_id": "order-8", "code": code},
            headers={"X-Api-Key": "change-me"},
            timeout=10,
        )
    assert check.status_code == 410 and check.json()["reason"] == "ExpiredAuthCode", check.text


def test_the_python_clients_examples_run_as_written(tmp_path: Path) -> None:
    """The clients guide's two blocks, against live servers (its addresses swapped for theirs, and the code
    the user types read from the outbox). Before, `TwoStepClient.register` was shown without the names
    that sign-up requires while the second step is on: it raised `400 invalid_input` (`firstName`)."""
    sms_block, api_block = marked_blocks("docs/guides/clients.md", "clients example", "python")[:2]
    with (
        ServerProcess(tmp_path / "verification", app="verification") as verification,
        ServerProcess(tmp_path / "api") as api,
    ):

        def code_for(server: ServerProcess, phone: str) -> Callable[[], str]:
            return lambda: server.latest_code(phone)

        sms_source = sms_block.replace(
            '"localhost:8000"', repr(verification.base_url.removeprefix("http://"))
        )
        exec(  # the page's own example, run as written
            sms_source.replace("user_input", "user_input()"),
            {"user_input": code_for(verification, "+14155552671"), "print": lambda *_: None},
        )
        printed: list[tuple[object, ...]] = []
        api_source = api_block.replace('"http://127.0.0.1:8000"', repr(api.base_url))
        exec(  # the page's own example, run as written
            api_source.replace("code_from_sms", "code_from_sms()"),
            {"code_from_sms": code_for(api, "+14155552671"), "print": lambda *args: printed.append(args)},
        )
    assert printed == [("Hello, ada@example.com!", "ada@example.com"), ("hi",)], printed


def test_the_self_host_settings_start_a_server(tmp_path: Path) -> None:
    """The self-host guide's environment file (its paths moved into `tmp_path`) serves, ready. Before, it
    named no email provider, and prod refuses the console one: `twostep storage init` and `twostep serve`
    stopped with `TWOSTEP_EMAIL_PROVIDER: the console provider is refused in prod`."""
    block = marked_block("docs/guides/self-host.md", "self-host settings")
    master_key = tmp_path / "master-key"
    master_key.write_text(run_cli(server_env(tmp_path), "keys", "master-key").stdout.strip())
    master_key.chmod(0o600)
    block = block.replace("/var/lib/twostep", str(tmp_path)).replace(
        "/etc/twostep/master-key", str(master_key)
    )
    settings = dict(line.split("=", 1) for line in block.splitlines() if line.startswith("TWOSTEP_"))
    assert settings["TWOSTEP_STAGE"] == "prod"
    env = {key: value for key, value in server_env(tmp_path).items() if not key.startswith("TWOSTEP_")}
    with ServerProcess(tmp_path / "server", env=env | settings) as server:
        assert httpx.get(f"{server.base_url}/healthz/ready", timeout=10).status_code == 200


def test_compose_starts_with_the_variables_the_guide_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """compose.yaml's environment for twostep, filled in as the self-host guide's `docker compose up` line
    fills it (… as a placeholder value), makes valid prod settings. Before, it passed no email provider,
    so the container stopped at start with the console provider refused in prod."""
    guide = (ROOT / "docs/guides/self-host.md").read_text()
    command = " ".join(marked_compose_command(guide).replace("\\\n", " ").split())
    given = dict(word.split("=", 1) for word in shlex.split(command) if "=" in word and word[0].isupper())
    given = {name: value.replace("…", "x" * 40) for name, value in given.items()}
    given["TWOSTEP_MASTER_KEY"] = "m" * 43  # the guide exports it on the line before
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    environment = {
        name: _interpolate(str(value), given)
        for name, value in compose["services"]["twostep"]["environment"].items()
    }
    for name in [key for key in os.environ if key.startswith("TWOSTEP_") or key.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.stage == "prod" and settings.email_provider == "smtp"
    assert settings.smtp_host == "smtp.example.com"


def marked_compose_command(guide: str) -> str:
    """The guide's `… docker compose up --build` command, continuation lines included."""
    match = re.search(r"^POSTGRES_PASSWORD=.*?docker compose up --build$", guide, re.S | re.M)
    assert match is not None, "the self-host guide shows no `docker compose up` command"
    return match.group(0)


def _interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's `${NAME:?message}` and `${NAME:-default}` (the forms compose.yaml uses)."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.group(1), match.group(2), match.group(3)
        if given.get(name):
            return given[name]
        assert kind != ":?", f"compose refuses to start: {rest}"
        return rest

    return re.sub(r"\$\{(\w+)(:\?|:-)([^}]*)\}", one, value)


def test_the_payment_example_runs_and_shows_the_text_sent(tmp_path: Path) -> None:
    """The transaction-bound code's example, run as written (the installed `twostep` as `python -m
    twostep`). Before, it showed an English text for a German number, which is texted in German, and
    checked a made-up code."""
    block = marked_block("docs/verification-api.md", "payment example")
    shown = next(line for line in block.splitlines() if line.startswith("# 123456 "))[2:]
    with ServerProcess(tmp_path / "server", app="verification") as server:
        result = subprocess.run(
            [
                "bash",
                "-euo",
                "pipefail",
                "-c",
                block.replace(".venv/bin/twostep", f"{sys.executable} -m twostep"),
            ],
            env=server.env | {"VERIFY": server.base_url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        sent = server.outbox("+4915112345678")[-1]["body"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.sub(r"^\d{6} ", "123456 ", sent) == shown, sent
    assert result.stdout.strip().splitlines()[-1].startswith('{"authenticated":true'), result.stdout
