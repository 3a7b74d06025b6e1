"""The API Lambda handler's start: built with the cyclic collector paused, what it built frozen out of the
collector's sight afterwards, and everything back to normal after a failed build or a reset."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws.conftest import AwsMode
from tests.aws.events import json_body, rest_event
from tests.fresh_python import environment_without, python_output
from twostep.aws import api_handler
from twostep.domain.errors import ConfigurationError

pytestmark = pytest.mark.aws


@pytest.fixture
def sqlite_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name, value in {
        "TWOSTEP_STAGE": "dev",
        "TWOSTEP_STORAGE": "sqlite",
        "TWOSTEP_SQLITE_PATH": str(tmp_path / "twostep.db"),
        "TWOSTEP_JWT_KEY_FILE": str(tmp_path / "keys.json"),
        "TWOSTEP_SMS_PROVIDERS": "console",
    }.items():
        monkeypatch.setenv(name, value)
    api_handler.reset()
    yield
    api_handler.reset()


def test_a_build_freezes_what_it_made_and_leaves_the_collector_on(sqlite_env: None) -> None:
    assert gc.isenabled()
    response = api_handler.handler(rest_event("GET", "/healthz"), None)
    assert response["statusCode"] == 200, json_body(response)
    assert gc.isenabled()
    assert gc.get_freeze_count() > 10_000  # the app, its routes and schemas, the modules
    api_handler.reset()
    assert gc.get_freeze_count() == 0  # a test's next build does not pin this one


def test_a_failed_build_answers_503_and_leaves_the_collector_on(
    sqlite_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TWOSTEP_SQLITE_PATH", str(tmp_path / "missing" / "twostep.db"))
    (tmp_path / "missing").write_text("a file where the database's folder should be")
    response = api_handler.handler(rest_event("GET", "/healthz"), None)
    assert response["statusCode"] == 503
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_prod_build_refuses_the_console_email_provider(
    sqlite_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API sends reset codes by email: its Lambda handler still refuses the console email provider in
    prod, now that the settings leave that refusal to the apps that send email."""
    for name, value in {
        "TWOSTEP_STAGE": "prod",
        "TWOSTEP_MASTER_KEY": "m" * 43,
        "TWOSTEP_SMS_PROVIDERS": "sns",
        "TWOSTEP_EMAIL_PROVIDER": "console",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        api_handler.get_handler()
    assert caught.value.message == "TWOSTEP_EMAIL_PROVIDER: the console provider is refused in prod"


def test_a_collector_switched_off_by_the_host_stays_off(sqlite_env: None) -> None:
    gc.disable()
    try:
        assert api_handler.handler(rest_event("GET", "/healthz"), None)["statusCode"] == 200
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_route_is_analysed_once_at_most(sqlite_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A route is analysed when first used (`api.deferred_routes`) and never again: FastAPI's
    `include_router` would analyse each one again on the first request that walks it (`api.routes_adopted`)."""
    from fastapi import routing

    api_handler.get_handler()
    analysed: list[str] = []
    populate = routing._populate_api_route_state

    def counting(route: object, path: str, *args: object, **kwargs: object) -> None:
        analysed.append(path)
        populate(route, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(routing, "_populate_api_route_state", counting)
    for _ in range(2):
        for path in ("/healthz", "/no-such-route", "/.well-known/jwks.json"):
            api_handler.handler(rest_event("GET", path), None)
    assert len(analysed) == len(set(analysed))
    assert "/no-such-route" not in analysed


HEALTHZ_PROBE = """
import json, sys
from tests.aws.events import rest_event
from twostep.api.deferred_routes import DeferredRoute
from twostep.api.lean_route import LeanRoute
from twostep.aws.api_handler import get_handler, handler
answer = handler(rest_event("GET", "/healthz"), None)
routes = get_handler().app.router.routes
# lean routes (/login, verify) are analysed when declared, to check their shape (api.lean_route)
analysed = [r.path for r in routes if isinstance(r, DeferredRoute) and r.realized and not isinstance(r, LeanRoute)]
deferred = [r.path for r in routes if isinstance(r, DeferredRoute) and not r.realized]
print(json.dumps({"status": answer["statusCode"], "phonenumbers": "phonenumbers" in sys.modules,
                  "analysed": analysed, "deferred": len(deferred)}))
"""


def test_a_cold_start_answering_healthz_loads_no_phonenumbers_and_analyses_no_other_route(
    tmp_path: Path,
) -> None:
    """phonenumbers (~10 ms of import) is loaded by the first request that parses a number, and FastAPI
    analyses each other route on its own first use (`api.deferred_routes`), in a fresh process."""
    import json

    env = environment_without(
        "TWOSTEP_",
        TWOSTEP_STAGE="dev",
        TWOSTEP_SQLITE_PATH=str(tmp_path / "twostep.db"),
        TWOSTEP_JWT_KEY_FILE=str(tmp_path / "keys.json"),
        TWOSTEP_LOG_LEVEL="ERROR",
    )
    output = python_output(HEALTHZ_PROBE, env=env, cwd=Path(__file__).resolve().parents[2])
    answer = json.loads(output.splitlines()[-1])
    assert answer["status"] == 200
    assert answer["phonenumbers"] is False
    assert answer["analysed"] == ["/healthz"]
    assert answer["deferred"] > 40  # every other API route


def test_an_api_pinned_to_another_algorithm_than_the_secret_refuses_to_start(
    aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On AWS nothing compared the secret's keys with `TWOSTEP_JWT_ALGORITHM`: the function started, then
    answered every sign-in 503 (it signs only with keys of its own algorithm). Its build now stops with the
    line a process on the database's keys gives, naming the rotation that changes the algorithm."""
    monkeypatch.setenv("TWOSTEP_JWT_ALGORITHM", "ES256")  # the fixture's secret holds RS256 keys
    with pytest.raises(ConfigurationError) as caught:
        api_handler.get_handler()
    assert caught.value.message.startswith(
        "TWOSTEP_JWT_ALGORITHM: ES256, but the shared keys sign with RS256"
    )
    assert "twostep keys rotate --activation-delay 0" in caught.value.message
    response = api_handler.handler(rest_event("POST", "/login", {"phoneNumber": "+4915112345678"}), None)
    assert response["statusCode"] == 503 and json_body(response)["code"] == "configuration_error"


def test_an_api_on_the_secret_with_an_hs256_setting_starts(
    aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`TWOSTEP_JWT_HS256_SECRET` replaces the secret's signing keys, so their algorithm does not matter."""
    monkeypatch.setenv("TWOSTEP_JWT_ALGORITHM", "HS256")
    monkeypatch.setenv("TWOSTEP_JWT_HS256_SECRET", "s" * 40)
    assert api_handler.handler(rest_event("GET", "/healthz"), None)["statusCode"] == 200


def test_a_setting_out_of_range_answers_503_with_the_line_serve_prints(
    sqlite_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad `TWOSTEP_*` value escaped the handler as pydantic's ValidationError: the runtime logged its
    multi-line dump and API Gateway answered 502. It now fails like every other misconfiguration: one line
    naming the variable (the one `twostep serve` prints) and 503 `configuration_error`."""
    monkeypatch.setenv("TWOSTEP_OTP_LENGTH", "11")
    with pytest.raises(ConfigurationError) as caught:
        api_handler.get_handler()
    assert caught.value.message == "TWOSTEP_OTP_LENGTH: Input should be less than or equal to 10"
    response = api_handler.handler(rest_event("GET", "/healthz"), None)
    assert response["statusCode"] == 503 and json_body(response)["code"] == "configuration_error"
