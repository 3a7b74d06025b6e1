"""`TWOSTEP_VERIFY_COMPAT=flowroute`: `twostep serve --app verification` answers as Flowroute's sms-verification.

The original's own tests (`test/test_api.py`) drive its Flask app in-process and write rows into its
database, so they cannot run against another server; the black-box assertions they make are ported here
one by one (reaching the same states through the API), with the original client's contract
(`flowroute_client.py`). Its two unit tests of private helpers (the code generator and the expiry
arithmetic) have no black-box counterpart. The same scenario against the default mode shows the precise
statuses stay the default.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integrator.flowroute_client import FlowrouteClient, FlowrouteHTTPError
from tests.live import ServerProcess, code_in

RETRIES_ALLOWED = 3  # the original's default, and twostep's
RECIPIENT = "14155552671"  # the original's 11-digit format (its tests used 11111111111, not a real number)
PHONE = "+" + RECIPIENT


def _serve(tmp_path_factory: pytest.TempPathFactory, mode: str) -> Iterator[ServerProcess]:
    with ServerProcess(
        tmp_path_factory.mktemp(f"compat-{mode}"),
        "verification",
        TWOSTEP_VERIFY_COMPAT=mode,
        TWOSTEP_SMS_PER_NUMBER_10MIN="100",  # every code of this module goes to one number
        TWOSTEP_SMS_PER_NUMBER_DAY="100",
    ) as live:
        yield live


@pytest.fixture(scope="module")
def flowroute_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from _serve(tmp_path_factory, "flowroute")


@pytest.fixture(scope="module")
def twostep_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from _serve(tmp_path_factory, "twostep")


@pytest.fixture(params=["flowroute"])
def server(request: pytest.FixtureRequest) -> ServerProcess:
    """The compat-mode server; tests that compare modes parametrize it with "twostep" too."""
    live: ServerProcess = request.getfixturevalue(f"{request.param}_server")
    return live


BOTH_MODES = pytest.mark.parametrize("server", ["flowroute", "twostep"], indirect=True)


@pytest.fixture
def client(server: ServerProcess) -> FlowrouteClient:
    return FlowrouteClient(server.base_url + "/")


def compat(server: ServerProcess) -> bool:
    return server.env["TWOSTEP_VERIFY_COMPAT"] == "flowroute"


def refused(action: object) -> FlowrouteHTTPError:
    with pytest.raises(FlowrouteHTTPError) as error:
        action()  # type: ignore[operator]
    return error.value


def created_code(client: FlowrouteClient, server: ServerProcess, auth_id: str) -> str:
    client.create_auth(auth_id, RECIPIENT)
    return code_in(server.outbox(PHONE, last=1)[-1]["body"])


def wrong(code: str) -> str:
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


def test_post_auth(client: FlowrouteClient, server: ServerProcess) -> None:
    """Its `test_post_auth`: 200, a text to the recipient whose first line is the code (an integer)."""
    auth_id = str(uuid.uuid1())
    answer = client.create_auth(auth_id, RECIPIENT)
    if compat(server):
        assert answer == {"message": "Success: Verification code created.", "auth_id": auth_id}
    else:
        assert answer["message"] == "Success: Verification code created." and "expires_at" in answer
    body = server.outbox(PHONE, last=1)[-1]["body"]
    if compat(server):
        int(body.split("\n")[0])
        assert "Welcome to" in body


def test_get_auth_success(client: FlowrouteClient, server: ServerProcess) -> None:
    """Its `test_get_auth_success`: with one try left, the right code answers 200 authenticated."""
    code = created_code(client, server, "jjj")
    for _ in range(RETRIES_ALLOWED - 1):
        refused(lambda: client.authenticate_code("jjj", wrong(code)))
    answer = client.authenticate_code("jjj", int(code))  # the original client sent numbers
    assert answer == {
        "authenticated": True,
        "auth_id": "jjj",
        "message": "Success: Authorization code verified.",
    }


@pytest.mark.parametrize(("auth_id", "attempts", "retries"), [("aaa", RETRIES_ALLOWED - 1, 0), ("bbb", 1, 1)])
def test_get_auth_attempts_fail(
    client: FlowrouteClient, server: ServerProcess, auth_id: str, attempts: int, retries: int
) -> None:
    """Its `test_get_auth_attempts_fail`: a wrong code after `attempts` wrong ones: 400, "Invalid code"."""
    code = created_code(client, server, auth_id)
    for _ in range(attempts):
        refused(lambda: client.authenticate_code(auth_id, wrong(code)))
    error = refused(lambda: client.authenticate_code(auth_id, wrong(code)))
    assert error.attempts_left == retries and error.strerror == "InvalidAuthCode"
    if compat(server):
        assert error.response.status_code == 400
        assert error.message == "Invalid code"
        assert error.response.json() == {
            "message": "Invalid code",
            "reason": "InvalidAuthCode",
            "attempts_left": retries,
        }
    else:
        assert error.response.status_code == 401


@BOTH_MODES
def test_every_failed_check_is_400_in_compat_mode_and_precise_by_default(
    client: FlowrouteClient, server: ServerProcess
) -> None:
    """The original's other answers, as its client reads them (message, strerror, attempts_left)."""
    code = created_code(client, server, "ccc")
    assert client.authenticate_code("ccc", code)["authenticated"] is True
    used = refused(lambda: client.authenticate_code("ccc", code))  # the original deleted a used code
    unknown = refused(lambda: client.authenticate_code("nobody", code))
    bad_code = refused(lambda: client.authenticate_code("ccc", "12ab"))
    bad_recipient = refused(lambda: client.create_auth("ddd", "555"))

    code = created_code(client, server, "eee")
    for _ in range(RETRIES_ALLOWED):
        refused(lambda: client.authenticate_code("eee", wrong(code)))
    exhausted = refused(lambda: client.authenticate_code("eee", code))  # deleted after its last try

    if compat(server):
        for error in (used, unknown, exhausted):
            assert error.response.status_code == 400
            assert error.response.json() == {
                "message": "Unknown auth id",
                "reason": "UnknownAuthId",
                "attempts_left": 0,
            }
        assert bad_code.response.status_code == 400
        assert bad_code.response.json() == {
            "message": "Required arguments: 'auth_id' (str), 'code' (int)",
            "reason": "InvalidAPIUsage",
        }
        assert bad_recipient.response.status_code == 400
        assert bad_recipient.message == "Required arguments: 'auth_id' (str), 'recipient' (int, length=11)"
        assert bad_recipient.strerror == "InvalidAPIUsage"
    else:
        assert (used.response.status_code, used.strerror) == (410, "ExpiredAuthCode")
        assert (unknown.response.status_code, unknown.strerror) == (404, "UnknownAuthId")
        assert (exhausted.response.status_code, exhausted.strerror) == (410, "InvalidAuthCode")
        assert (bad_code.response.status_code, bad_code.strerror) == (400, "InvalidAPIUsage")
        assert (bad_recipient.response.status_code, bad_recipient.strerror) == (400, "InvalidAPIUsage")


@BOTH_MODES
def test_limits_answer_400_in_compat_mode_with_their_headers(
    client: FlowrouteClient, server: ServerProcess
) -> None:
    """A refusal the original never had (a re-create while out of attempts) is 400 too, and keeps
    Retry-After and the RateLimit fields; by default it is 429."""
    code = created_code(client, server, "fff")
    for _ in range(RETRIES_ALLOWED):
        refused(lambda: client.authenticate_code("fff", wrong(code)))
    limited = refused(lambda: client.create_auth("fff", RECIPIENT))
    assert limited.strerror == "RateLimited"
    assert limited.response.status_code == (400 if compat(server) else 429)
    assert int(limited.response.headers["Retry-After"]) > 0
    assert limited.response.headers["RateLimit"].startswith('"verification_attempts_exhausted";r=0;t=')


@BOTH_MODES
def test_a_replayed_create_answers_in_the_mode_s_shape_and_sends_nothing(server: ServerProcess) -> None:
    """`Idempotency-Key` works in both modes; a replay returns the first answer, the mode's body."""
    before = len(server.outbox(PHONE))
    headers = {"Idempotency-Key": f"compat-{uuid.uuid4()}"}
    body = {"auth_id": "idem-1", "recipient": RECIPIENT}
    first = httpx.post(server.base_url + "/", json=body, headers=headers)
    again = httpx.post(server.base_url + "/", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert ("expires_at" not in first.json()) is compat(server)
    assert len(server.outbox(PHONE)) == before + 1


def test_a_typed_code_cannot_name_another_auth_id_in_compat_mode(
    client: FlowrouteClient, server: ServerProcess
) -> None:
    """A caller building `?auth_id=<its id>&code=<typed>` unencoded let a typed `<my code>&auth_id=<my id>`
    check the typist's own id (twostep read the last `auth_id`; the original's Flask the first) and answer
    `authenticated: true`. A repeated parameter is now the original's usage error, and checks nothing."""
    mine = created_code(client, server, "typist-own")
    theirs = created_code(client, server, "caller-id")
    answer = httpx.get(f"{server.base_url}/?auth_id=caller-id&code={mine}&auth_id=typist-own")
    assert answer.status_code == 400
    assert answer.json() == {
        "message": "Required arguments: 'auth_id' (str), 'code' (int)",
        "reason": "InvalidAPIUsage",
    }
    assert client.authenticate_code("typist-own", mine)["authenticated"] is True
    assert client.authenticate_code("caller-id", theirs)["authenticated"] is True


def test_the_guide_warns_that_an_exhausted_auth_id_waits_for_its_expiry() -> None:
    """The Flowroute guide's compatibility table and its list of differences did not say that a new code
    for an `auth_id` out of attempts is refused until the old code expires (the original texted a fresh
    one), and recommended the original's hour-long expiry: a caller's "send a new code" after the last
    wrong try failed for up to an hour, untold. `test_limits_answer_400_in_compat_mode_with_their_headers`
    shows the statuses the row states."""
    guide = (Path(__file__).parents[2] / "docs/guides/migrate-flowroute.md").read_text()
    row = next((line for line in guide.splitlines() if line.startswith("| a new code for an `auth_id`")), "")
    assert "429 `RateLimited`" in row and "400 `RateLimited`" in row and "Retry-After" in row
    assert "waits up to an hour for a new code" in guide
