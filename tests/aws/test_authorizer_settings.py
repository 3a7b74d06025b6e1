"""The authorizer's pydantic-free settings stay in step with `Settings`, and its cold path stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twostep.aws.authorizer_settings import AuthorizerSettings
from twostep.domain.errors import ConfigurationError
from twostep.settings import Settings
from twostep.storage.sqlite import SqliteStorage

# The paths are fields of text, read as `Path`s under the names `Settings` gives them.
SHARED = [name.removesuffix("_name") for name in AuthorizerSettings._fields]


def test_defaults_match_settings() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    light = AuthorizerSettings.from_environ({})
    for name in SHARED:
        assert getattr(light, name) == getattr(settings, name), name


def test_values_are_read_like_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "TWOSTEP_JWT_ALGORITHM": "ES256",
        "TWOSTEP_ISSUER": "https://auth.example",
        "TWOSTEP_AUDIENCE": "api",
        "TWOSTEP_JWT_LEEWAY_SECONDS": "10",
        "TWOSTEP_ACCESS_TOKEN_TTL_SECONDS": "600",
        "TWOSTEP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
        "TWOSTEP_JWT_KEY_FILE": "/k.json",
        "TWOSTEP_JWT_RSA_BITS": "3072",
        "TWOSTEP_OTP_HMAC_KEY": "h" * 32,
    }
    light = AuthorizerSettings.from_environ(env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in SHARED:
        mine, theirs = getattr(light, name), getattr(settings, name)
        if hasattr(theirs, "get_secret_value"):
            mine, theirs = mine.get_secret_value(), theirs.get_secret_value()
        assert mine == theirs, name
    assert "h" * 32 not in repr(light)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TWOSTEP_JWT_ALGORITHM": "none"}, "TWOSTEP_JWT_ALGORITHM"),
        ({"TWOSTEP_JWT_LEEWAY_SECONDS": "301"}, "TWOSTEP_JWT_LEEWAY_SECONDS"),
        ({"TWOSTEP_ACCESS_TOKEN_TTL_SECONDS": "ten"}, "TWOSTEP_ACCESS_TOKEN_TTL_SECONDS"),
        ({"TWOSTEP_JWT_HS256_SECRET": "short"}, "TWOSTEP_JWT_HS256_SECRET"),
        ({"TWOSTEP_AUDIENCE": ""}, "TWOSTEP_AUDIENCE"),  # it refused every token, as the API's did
    ],
)
def test_out_of_range_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        AuthorizerSettings.from_environ(env)


def test_first_allow_loads_no_framework(tmp_path: Path) -> None:
    """The cold path: no pydantic, web framework, password hasher, storage adapter or boto3.

    With SQLite storage the revocation list is read with `sqlite3` (the driver, not the adapter).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env["TWOSTEP_JWT_KEY_FILE"] = str(tmp_path / "keys.json")
    env["TWOSTEP_STORAGE"] = "sqlite"
    env["TWOSTEP_SQLITE_PATH"] = str(tmp_path / "twostep.db")
    SqliteStorage(tmp_path / "twostep.db").init_schema()
    mint = (
        "from twostep.aws.authorizer_settings import AuthorizerSettings as S;"
        "from twostep.secrets import load_key_material as L; from twostep.domain.clock import SystemClock as C;"
        "from twostep.domain.tokens import TokenIssuer as T; s=S.from_environ(); k=L(s, C()).current;"
        "print(T(kid=k.kid, algorithm=k.algorithm, key=k.signing_material, issuer=s.issuer,"
        " audience=s.audience, ttl_seconds=900, clock=C()).issue(user_id='u1', email='a@b.co', amr=('pwd', 'sms'), sid='s1', auth_time=0))"
    )
    token = subprocess.run(
        [sys.executable, "-c", mint], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    probe = (
        "import json, sys; from twostep.aws.authorizer import handler;"
        f"r = handler({{'type': 'TOKEN', 'authorizationToken': 'Bearer {token}',"
        " 'methodArn': 'arn:aws:execute-api:us-east-1:1:abc/dev/GET/hello'});"
        "heavy = [m for m in ('pydantic', 'pydantic_settings', 'fastapi', 'starlette', 'argon2', 'boto3',"
        " 'httpx', 'twostep.settings', 'twostep.storage.sqlite', 'twostep.container', 'typing')"
        " if m in sys.modules];"
        "print(json.dumps({'effect': r['policyDocument']['Statement'][0]['Effect'], 'heavy': heavy}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == {"effect": "Allow", "heavy": []}
