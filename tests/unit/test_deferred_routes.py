"""Deferred routes (`api.deferred_routes`): analysed on first use, and then exactly what FastAPI serves
and documents for an eagerly analysed route."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from tests.conftest import settings_for_tests
from twostep.api.deferred_routes import DeferredRoute, realize_routes


class ItemIn(BaseModel):
    name: str = Field(min_length=1)
    count: int = 1


class ItemOut(BaseModel):
    name: str


async def caller(x_caller: Annotated[str | None, Header()] = None) -> str:
    return x_caller or "anonymous"


def declare(route_class: type[APIRoute]) -> FastAPI:
    """The same routes, declared with `route_class`, in an app of their own."""
    router = APIRouter(tags=["items"], route_class=route_class)

    @router.post(
        "/items/{item_id}", response_model=ItemOut, status_code=201, responses={409: {"model": ItemOut}}
    )
    def create(item_id: int, body: ItemIn, who: Annotated[str, Depends(caller)]) -> dict[str, Any]:
        """Create an item."""
        return {"name": f"{body.name}-{item_id}-{who}", "dropped": "by the response model"}

    @router.get("/items", name="list_items")
    async def listing(request: Request, limit: int = 10) -> list[ItemOut]:
        return [ItemOut(name=f"{request.url.path}:{limit}")]

    app = FastAPI(title="t", version="1")
    app.router.routes.extend(router.routes)
    return app


def deferred_routes(app: FastAPI) -> list[DeferredRoute]:
    return [route for route in app.router.routes if isinstance(route, DeferredRoute)]


def test_declaring_matching_and_missing_routes_analyse_nothing() -> None:
    app = declare(DeferredRoute)
    client = TestClient(app)
    assert client.get("/nothing-here").status_code == 404
    assert client.delete("/items").status_code == 405  # a path match with another method
    assert app.url_path_for("list_items") == "/items"
    assert [route.realized for route in deferred_routes(app)] == [False, False]


def test_the_first_request_analyses_only_its_route_and_answers_as_an_eager_one() -> None:
    lazy_app = declare(DeferredRoute)
    lazy, eager = TestClient(lazy_app), TestClient(declare(APIRoute))
    calls = [
        ("post", "/items/7", {"json": {"name": "a"}, "headers": {"x-caller": "c"}}),
        ("post", "/items/7", {"json": {"name": ""}}),  # 422 from the body model
        ("post", "/items/x", {"json": {"name": "a"}}),  # 422 from the path converter
        ("get", "/items?limit=3", {}),
        ("get", "/items?limit=many", {}),
    ]
    first = lazy.post("/items/7", json={"name": "a"})
    assert [route.realized for route in deferred_routes(lazy_app)] == [True, False]
    assert first.status_code == 201 and first.json() == {"name": "a-7-anonymous"}
    for method, url, kwargs in calls:
        got, want = getattr(lazy, method)(url, **kwargs), getattr(eager, method)(url, **kwargs)
        assert (got.status_code, got.json()) == (want.status_code, want.json()), url


def test_the_openapi_document_is_the_eager_one() -> None:
    lazy, eager = declare(DeferredRoute), declare(APIRoute)
    assert lazy.openapi() == eager.openapi()
    assert all(route.realized for route in deferred_routes(lazy))


def test_realize_routes_analyses_every_route_once() -> None:
    app = declare(DeferredRoute)
    realize_routes(app)
    routes = deferred_routes(app)
    assert all(route.realized for route in routes)
    dependants = [route.dependant for route in routes]
    realize_routes(app)
    assert [route.dependant for route in routes] == dependants  # the same objects: not analysed again


def test_a_route_that_cannot_be_analysed_fails_each_time_it_is_used() -> None:
    router = APIRouter(route_class=DeferredRoute)

    @router.get("/broken", status_code=204, response_model=ItemOut)  # 204 cannot have a body
    def broken() -> None:
        return None

    app = FastAPI()
    app.router.routes.extend(router.routes)
    for _ in range(2):  # the same error again, not a confusing AttributeError the second time
        with pytest.raises(AssertionError, match="must not have a response body"):
            realize_routes(app)


def test_a_subclass_hook_still_shapes_the_answer() -> None:
    class Tagged(DeferredRoute):
        def get_route_handler(self) -> Any:
            handler = super().get_route_handler()

            async def tagged(request: Request) -> Any:
                response = await handler(request)
                response.headers["x-tagged"] = "yes"
                return response

            return tagged

    client = TestClient(declare(Tagged))
    assert client.get("/items").headers["x-tagged"] == "yes"


@pytest.mark.parametrize("which", ["api", "verification"])
def test_a_served_app_analyses_every_route_at_start(
    which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`twostep serve` (one worker or many) builds through `build_asgi_app`, which realizes the app's routes."""
    from twostep.api import factory

    realized: list[FastAPI] = []
    monkeypatch.setattr(factory, "realize_routes", realized.append)
    settings = settings_for_tests(tmp_path, verify_api_keys=["k" * 32]) if which == "verification" else None
    app = factory.build_asgi_app(settings or settings_for_tests(tmp_path), which)
    try:
        assert realized == [app]
    finally:
        app.state.container.close()
