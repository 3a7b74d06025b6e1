"""The sign-in routes' short way through FastAPI (`api.lean_route`): the same answers as FastAPI's own
handler, for good requests and bad, and FastAPI's handler only where an answer needs it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import fastapi.routing
import pytest
from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from twostep.api.errors import install_error_handlers
from twostep.api.idempotency import idempotent
from twostep.api.lean_route import LeanRoute, lean
from twostep.api.request_middleware import install_request_middleware
from twostep.api.routes_adopted import adopt_routes
from twostep.domain.errors import InvalidCredentials


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(max_length=8)
    count: int = 1
    remember: bool = Field(default=False, alias="rememberMe")


class Out(BaseModel):
    greeting: str
    count: int
    note: str | None = None


Slug = Annotated[str, Path(max_length=6, pattern=r"^[a-z]+$")]


async def endpoint(slug: str, body: Body, request: Request, response: Response) -> Out:
    if body.name == "wrong":
        raise InvalidCredentials()
    if body.remember:
        response.set_cookie("kept", "yes", httponly=True)
    if body.count == 0:
        response.status_code = 202
    return Out(greeting=f"{slug} {body.name} {request.headers.get('x-extra', '')}", count=body.count)


def make_app(*, short: bool) -> FastAPI:
    app = FastAPI()
    app.state.container = None  # the idempotency wrapper refuses a bad key before it needs one
    install_error_handlers(app)
    router = APIRouter(route_class=LeanRoute)
    marked = lean(idempotent("test")(endpoint)) if short else idempotent("test")(endpoint)
    router.add_api_route("/things/{slug}", marked, methods=["POST"], response_model=Out)
    adopt_routes(app, router)  # as the app does (see api.routes_adopted)
    install_request_middleware(app)
    return app


REQUESTS: list[tuple[str, Any, dict[str, str]]] = [
    ("abc", {"name": "ann"}, {}),
    ("abc", {"name": "ann", "count": 3, "rememberMe": True}, {"x-extra": "hi"}),
    ("abc", {"name": "ann", "count": 0}, {}),
    ("abc", {"name": "wrong"}, {}),
    ("abc", {"name": "far too long a name"}, {}),
    ("abc", {"name": "ann", "other": 1}, {}),
    ("abc", {"count": "many"}, {}),
    ("abc", ["not", "an", "object"], {}),
    ("abc", "{not json", {}),
    ("abc", "", {}),
    ("ABC", {"name": "ann"}, {}),
    ("abcdefgh", {"name": "ann"}, {}),
    ("abc", {"name": "ann"}, {"content-type": "text/plain"}),
    ("abc", {"name": "ann"}, {"content-type": "application/merge-patch+json"}),
]


def post(client: TestClient, slug: str, body: Any, headers: dict[str, str]) -> Any:
    headers = {"content-type": "application/json", "x-request-id": "fixed-request-id-1", **headers}
    content = body if isinstance(body, str) else json.dumps(body)
    return client.post(f"/things/{slug}", content=content, headers=headers)


@pytest.mark.parametrize(("slug", "body", "headers"), REQUESTS)
def test_the_short_way_answers_as_fastapi_does(slug: str, body: Any, headers: dict[str, str]) -> None:
    with TestClient(make_app(short=True)) as short, TestClient(make_app(short=False)) as full:
        ours, theirs = post(short, slug, body, headers), post(full, slug, body, headers)
    assert ours.status_code == theirs.status_code
    assert ours.content == theirs.content
    assert sorted(ours.headers.items()) == sorted(theirs.headers.items())


def test_good_requests_skip_fastapis_handler_and_bad_ones_get_its_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counted(**kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await solve(**kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    with TestClient(make_app(short=True)) as client:
        assert post(client, "abc", {"name": "ann", "rememberMe": True}, {}).cookies.get("kept") == "yes"
        assert post(client, "abc", {"name": "wrong"}, {}).status_code == 401  # the app's handler
        assert solved == []
        assert post(client, "abc", {"name": 5}, {}).status_code == 422
        assert post(client, "abc", {"name": "ann"}, {"content-type": "text/plain"}).status_code == 415
        assert len(solved) == 2
        # A key (even an empty one, refused) is the idempotency wrapper's, on FastAPI's way.
        assert post(client, "abc", {"name": "ann"}, {"idempotency-key": ""}).status_code == 400


def test_the_body_read_for_the_short_way_reaches_fastapi_when_it_answers() -> None:
    with TestClient(make_app(short=True)) as client:
        refused = post(client, "abc", {"name": "ann", "unknown": True}, {})
    assert refused.status_code == 422
    assert refused.json()["field"] == "unknown"


def test_only_endpoints_the_short_way_can_fill_in_may_be_marked() -> None:
    async def with_query(q: int, body: Body) -> Out:
        raise AssertionError

    router = APIRouter(route_class=LeanRoute)
    with pytest.raises(TypeError, match="@lean"):
        router.add_api_route("/q", lean(with_query), methods=["POST"], response_model=Out)
