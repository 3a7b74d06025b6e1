"""The HTTP API's body models (`api.schema_model`): built on first use, the same models and the same
OpenAPI document as when built at declaration, and all built at the start of a served app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import settings_for_tests
from tests.fresh_python import python_output
from twostep.api.schema_model import ApiModel, _subclasses, build_models

# Run in a fresh interpreter: in this one, other tests have built models already.
COUNT_BUILT = """
import json
import twostep.api.app
from twostep.api.schema_model import ApiModel, _subclasses
models = _subclasses(ApiModel)
print(json.dumps({"models": len(models), "built": sorted(m.__name__ for m in models if m.__pydantic_complete__)}))
"""

OPENAPI = """
import json, sys
from pathlib import Path
from tests.conftest import settings_for_tests
from twostep.api.schema_model import build_models
if sys.argv[1] == "first":
    import twostep.api.app
    build_models()
from twostep.api.app import create_app
from twostep.container import build
container = build(settings_for_tests(Path(sys.argv[2])))
try:
    print(json.dumps(create_app(container).openapi(), sort_keys=True))
finally:
    container.close()
"""


def test_importing_the_api_builds_no_body_model() -> None:
    answer = json.loads(python_output(COUNT_BUILT))
    assert answer["models"] > 40  # every request and response body of the API
    assert answer["built"] == []


def test_a_model_validates_and_serialises_on_first_use() -> None:
    class Body(ApiModel):
        name: str
        count: int = 1

    assert not Body.__pydantic_complete__
    assert Body.model_validate({"name": "a", "count": "2"}).model_dump() == {"name": "a", "count": 2}
    assert Body.__pydantic_complete__
    with pytest.raises(ValueError, match="count"):
        Body.model_validate({"name": "a", "count": "many"})


def test_build_models_builds_every_model_once() -> None:
    class Late(ApiModel):
        value: int

    assert not Late.__pydantic_complete__
    assert build_models() >= 1
    assert all(model.__pydantic_complete__ for model in _subclasses(ApiModel))
    assert build_models() == 0


def test_the_openapi_document_is_the_one_of_models_built_at_declaration(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    on_first_use = json.loads(python_output(OPENAPI, "deferred", str(tmp_path / "a")))
    built_first = json.loads(python_output(OPENAPI, "first", str(tmp_path / "b")))
    assert on_first_use == built_first
    assert len(on_first_use["components"]["schemas"]) > 40


def test_a_served_app_builds_every_model_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from twostep.api import factory

    calls: list[int] = []
    monkeypatch.setattr(factory, "build_models", lambda: calls.append(build_models()) or 0)
    app = factory.build_asgi_app(settings_for_tests(tmp_path))
    try:
        assert len(calls) == 1
        assert all(model.__pydantic_complete__ for model in _subclasses(ApiModel))
    finally:
        app.state.container.close()


FIRST_REQUESTS = """
import sys, warnings
from pathlib import Path
from pydantic.warnings import UnsupportedFieldAttributeWarning
warnings.simplefilter("error", UnsupportedFieldAttributeWarning)
from fastapi.testclient import TestClient
from tests.conftest import PASSWORD, PHONE, settings_for_tests
from twostep.api.app import create_app
from twostep.container import build
container = build(settings_for_tests(Path(sys.argv[1])))
try:
    client = TestClient(create_app(container))
    user = {"firstName": "Cem", "lastName": "Onan", "email": "a@example.com", "password": PASSWORD, "phoneNumber": PHONE}
    bad = client.post("/register", json={"email": "a@example.com"})
    good = client.post("/register", json=user)
    login = client.post("/login", json={"email": user["email"], "password": PASSWORD})
    print(bad.status_code, good.status_code, login.status_code, len(client.get("/openapi.json").json()["paths"]))
finally:
    container.close()
"""


def test_first_requests_validate_bodies_without_warnings(tmp_path: Path) -> None:
    """A request body's adapter is built with its route, inside FastAPI's own warnings filter."""
    bad, good, login, paths = python_output(FIRST_REQUESTS, str(tmp_path)).split()
    assert (bad, good, login) == ("422", "201", "200")
    assert int(paths) > 30


SHARED_SCHEMAS = """
import sys
from pathlib import Path
from fastapi.routing import APIRoute
from tests.conftest import settings_for_tests
from twostep.api.factory import build_asgi_app
from twostep.api.schema_model import ApiModel
app = build_asgi_app(settings_for_tests(Path(sys.argv[1])))
try:
    bodies = shared = 0
    for route in app.routes:
        field = getattr(route, "body_field", None) if isinstance(route, APIRoute) else None
        model = field.field_info.annotation if field is not None else None
        if isinstance(model, type) and issubclass(model, ApiModel):
            bodies += 1
            own = model.__pydantic_core_schema__.get("schema")
            shared += field._type_adapter.core_schema.get("schema") is own
    print(bodies, shared)
finally:
    app.state.container.close()
"""


def test_a_served_apps_body_adapters_reuse_their_models_schemas(tmp_path: Path) -> None:
    """Models are built before the routes are analysed, so a body's adapter takes its model's core schema
    instead of building a copy (both copies stayed resident: ~0.5 MiB of the served process)."""
    bodies, shared = map(int, python_output(SHARED_SCHEMAS, str(tmp_path)).split())
    assert bodies > 20
    # The sign-in routes' bodies (lean routes) make their adapters another way; the rest reuse.
    assert shared >= bodies - 3
