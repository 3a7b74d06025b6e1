"""Shared keys against live servers: two `twostep serve` on one database from different folders agree on
codes and tokens; a server whose keys disagree with the database's refuses to start; `keys rotate`
reaches a running server and publishes the new key before anything signs with it."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx

from tests.live import ServerProcess, run_cli, server_env
from twostep.domain.clock import SystemClock
from twostep.domain.keys import KeyMaterial

PASSWORD = "correct horse battery staple"
PHONE = "+14155552671"
WAIT_SECONDS = 60.0  # the promise: a rotation reaches running servers within a minute


def shared_env(database: Path, **extra: str) -> dict[str, str]:
    """Settings of one deployment: one database; keys wherever each process looks by default."""
    database.parent.mkdir(parents=True, exist_ok=True)
    env = server_env(database.parent) | {"TWOSTEP_SQLITE_PATH": str(database)}
    env["TWOSTEP_ISSUER"] = "https://auth.example.com"  # one deployment, one issuer (whatever the port)
    del env["TWOSTEP_JWT_KEY_FILE"]  # the default ./twostep-keys.json: per folder, as an operator has it
    return env | extra


def kid_of(token: str) -> str:
    header = token.split(".", maxsplit=1)[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def register_and_start(http: httpx.Client, email: str) -> str:
    body = {"firstName": "A", "lastName": "B", "email": email, "password": PASSWORD, "phoneNumber": PHONE}
    assert http.post("/register", json=body).status_code == 201
    started = http.post("/login", json={"email": email, "password": PASSWORD})
    assert started.status_code == 200, started.text
    return str(started.json()["otpId"])


def sign_in(server: ServerProcess, email: str) -> str:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        started = http.post("/login", json={"email": email, "password": PASSWORD})
        assert started.status_code == 200, started.text
        verified = http.post(
            f"/otp/{started.json()['otpId']}/verify", json={"otp": server.latest_code(PHONE)}
        )
        assert verified.status_code == 200, verified.text
        return str(verified.json()["accessToken"])


def test_two_servers_in_different_folders_share_codes_and_tokens(tmp_path: Path) -> None:
    env = shared_env(tmp_path / "db" / "twostep.db")
    with (
        ServerProcess(tmp_path / "a", env=env) as a,
        ServerProcess(tmp_path / "b", env=env) as b,
        httpx.Client(base_url=a.base_url, timeout=30) as at_a,
        httpx.Client(base_url=b.base_url, timeout=30) as at_b,
    ):
        otp_id = register_and_start(at_a, "shared@example.com")
        verified = at_b.post(f"/otp/{otp_id}/verify", json={"otp": a.latest_code(PHONE)})
        assert verified.status_code == 200, verified.text  # was 401 wrong_code: one key file per folder
        token = verified.json()["accessToken"]
        assert at_a.get("/hello", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert at_a.get("/.well-known/jwks.json").json() == at_b.get("/.well-known/jwks.json").json()
    assert not list((tmp_path / "a").glob("*keys*.json")) and not list((tmp_path / "b").glob("*keys*.json"))
    master = tmp_path / "db" / "twostep.db.master-key"
    assert master.stat().st_mode & 0o777 == 0o600


def one_line_refusal(env: dict[str, str], cwd: Path, setting: str) -> str:
    cwd.mkdir(parents=True, exist_ok=True)
    result = run_cli(env, "serve", "--port", "1", cwd=cwd)  # refused before it binds the port
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0], lines
    return lines[0]


def test_a_server_whose_keys_disagree_with_the_database_refuses_to_start(tmp_path: Path) -> None:
    database = tmp_path / "db" / "twostep.db"
    env = shared_env(database, TWOSTEP_MASTER_KEY="the-first-master-key-0123456789abcdef")
    assert run_cli(env, "storage", "init", cwd=tmp_path).returncode == 0
    with ServerProcess(tmp_path / "a", env=env):
        other_master = env | {"TWOSTEP_MASTER_KEY": "another-master-key-0123456789abcdefgh"}
        line = one_line_refusal(other_master, tmp_path / "b", "TWOSTEP_MASTER_KEY")
        assert "another master key" in line and "0123456789" not in line  # names, never shows, the key

        # A key file left from an earlier version, from another folder's deployment.
        stray = tmp_path / "c" / "twostep-keys.json"
        stray.parent.mkdir()
        stray.write_text(KeyMaterial.generate("RS256", SystemClock().now()).to_json())
        one_line_refusal(env, tmp_path / "c", "TWOSTEP_JWT_KEY_FILE")


def test_an_existing_key_file_moves_into_the_database_on_first_start(tmp_path: Path) -> None:
    env = shared_env(tmp_path / "db" / "twostep.db")
    old = KeyMaterial.generate("RS256", SystemClock().now())
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "twostep-keys.json").write_text(old.to_json())
    with ServerProcess(tmp_path / "a", env=env) as a, ServerProcess(tmp_path / "b", env=env) as b:
        for server in (a, b):
            kids = [
                key["kid"] for key in httpx.get(f"{server.base_url}/.well-known/jwks.json").json()["keys"]
            ]
            assert kids == [old.current.kid]


def test_rotation_reaches_a_running_server_and_is_published_before_it_signs(tmp_path: Path) -> None:
    env = shared_env(
        tmp_path / "db" / "twostep.db",
        TWOSTEP_KEYS_REFRESH_SECONDS="1",
        TWOSTEP_KEY_ACTIVATION_DELAY_SECONDS="4",
        TWOSTEP_SMS_PER_NUMBER_10MIN="1000",
        TWOSTEP_SMS_PER_NUMBER_DAY="1000",
    )
    with ServerProcess(tmp_path / "a", env=env) as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            register_and_start(http, "rotate@example.com")
        old_token = sign_in(server, "rotate@example.com")
        old_kid = kid_of(old_token)

        rotated = server.cli("keys", "rotate")
        assert rotated.returncode == 0, rotated.stderr
        assert "running servers publish it within 1 s" in rotated.stdout
        new_kid = rotated.stdout.split()[3]
        assert new_kid != old_kid

        # Every token the server signs carries a kid its JWKS publishes at that moment: the new key is
        # published first, and signs only after its activation delay.
        deadline = time.monotonic() + WAIT_SECONDS
        seen_kids: list[str] = []
        while time.monotonic() < deadline:
            published = {
                k["kid"] for k in httpx.get(f"{server.base_url}/.well-known/jwks.json").json()["keys"]
            }
            kid = kid_of(sign_in(server, "rotate@example.com"))
            assert kid in published, (kid, published)
            if not seen_kids or seen_kids[-1] != kid:
                seen_kids.append(kid)
            if kid == new_kid:
                break
            time.sleep(0.2)
        assert seen_kids[-1] == new_kid, f"the running server did not sign with {new_kid} in {WAIT_SECONDS} s"
        hello = httpx.get(f"{server.base_url}/hello", headers={"Authorization": f"Bearer {old_token}"})
        assert hello.status_code == 200  # tokens of the retired key stay valid until they expire


def test_a_rotation_without_delay_is_read_at_once_by_a_server_shown_a_token_of_the_new_key(
    tmp_path: Path,
) -> None:
    """After a leak (`--activation-delay 0`) a server started later signs with the new key at once; one
    that has not re-read the keys accepts its tokens at once instead of refusing them until its refresh."""
    env = shared_env(tmp_path / "db" / "twostep.db", TWOSTEP_KEYS_REFRESH_SECONDS="60")
    with ServerProcess(tmp_path / "a", env=env) as earlier:
        with httpx.Client(base_url=earlier.base_url, timeout=30) as http:
            register_and_start(http, "leak@example.com")
        old_kid = kid_of(sign_in(earlier, "leak@example.com"))
        rotated = earlier.cli("keys", "rotate", "--activation-delay", "0")
        assert rotated.returncode == 0, rotated.stderr
        with ServerProcess(tmp_path / "b", env=env) as later:
            token = sign_in(later, "leak@example.com")
            new_kid = kid_of(token)
            assert new_kid != old_kid
            jwks = f"{earlier.base_url}/.well-known/jwks.json"
            assert new_kid not in {key["kid"] for key in httpx.get(jwks).json()["keys"]}  # not read yet

            hello = httpx.get(f"{earlier.base_url}/hello", headers={"Authorization": f"Bearer {token}"})
            assert hello.status_code == 200, hello.text  # was 401 until the earlier server's refresh
            assert new_kid in {key["kid"] for key in httpx.get(jwks).json()["keys"]}
            assert kid_of(sign_in(earlier, "leak@example.com")) == new_kid  # the leaked key stopped signing
