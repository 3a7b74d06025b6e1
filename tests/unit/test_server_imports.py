"""What a SQLite `twostep serve` process loads: nothing it only needs for other backends or rare routes.

Every module imported at start-up stays in every server process's memory (the bench's peak RSS figure):
py_webauthn (with pyOpenSSL, cbor2 and ASN.1 parsers) is loaded by the first passkey ceremony, segno by
the first authenticator-app enrolment, boto3 and psycopg only by their backends.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.fresh_python import environment_without, python_output

NOT_AT_START = ("webauthn", "OpenSSL", "cbor2", "segno", "boto3", "botocore", "psycopg", "moto", "jinja2")
PROBE = f"""
import json, sys
from twostep.api.factory import build_asgi_app
from twostep.cli import app as cli
from twostep.settings import load_settings
app = build_asgi_app(load_settings())
app.state.container.close()
print(json.dumps([name for name in {NOT_AT_START!r} if name in sys.modules]))
"""


def test_a_sqlite_server_starts_without_modules_it_does_not_need(tmp_path: Path) -> None:
    env = environment_without(
        "TWOSTEP_", TWOSTEP_SQLITE_PATH=str(tmp_path / "twostep.db"), TWOSTEP_LOG_LEVEL="ERROR"
    )
    output = python_output(PROBE, env=env, cwd=tmp_path)
    assert json.loads(output.splitlines()[-1]) == []


FROZEN = """
import gc
from twostep.api.factory import build_asgi_app
from twostep.settings import load_settings
app = build_asgi_app(load_settings())
print(gc.get_freeze_count())
app.state.container.close()
"""


def test_a_served_apps_start_up_objects_are_frozen(tmp_path: Path) -> None:
    """The collector's full passes under load skip the tens of thousands of objects start-up made."""
    env = environment_without(
        "TWOSTEP_", TWOSTEP_SQLITE_PATH=str(tmp_path / "twostep.db"), TWOSTEP_LOG_LEVEL="ERROR"
    )
    assert int(python_output(FROZEN, env=env, cwd=tmp_path).splitlines()[-1]) > 20_000
