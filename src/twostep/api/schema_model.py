"""The base of the HTTP API's pydantic models: each builds its validator and serialiser on first use.

Pydantic builds a model's core schema, validator and serialiser when the class is created. The API
declares ~50 models and a Lambda cold start answers one route, yet built all of them: ~31 M of the
~2,290 M instructions of the bench's import + first response (`bench/figures_aws.py`, callgrind).
With `defer_build` each model is built the first time anything validates, serialises or documents it:
the same validators, later. `build_models` builds every one at once; `twostep serve` calls it at start
(`api/factory.py`), so a served worker answers its first requests at full speed and a model that
cannot be built stops the start.

FastAPI wraps each route's models in pydantic adapters, and an adapter of a deferred model is deferred
too. `build_route_adapters` builds a route's adapters when the route is analysed, as they were built
before, inside the warnings filter FastAPI puts around them: built later, each request body's adapter
warned that the body's `alias` means nothing to an adapter.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.warnings import UnsupportedFieldAttributeWarning


class ApiModel(BaseModel):
    """A request or response body of the HTTP API (subclass it as `BaseModel`)."""

    model_config = ConfigDict(defer_build=True)


def _subclasses(model: type[ApiModel]) -> list[type[ApiModel]]:
    found = []
    for child in model.__subclasses__():
        found.append(child)
        found.extend(_subclasses(child))
    return found


def build_models() -> int:
    """Build every API model declared so far (already built ones are skipped); returns how many were built.

    Raises: pydantic's `PydanticUndefinedAnnotation` or `PydanticSchemaGenerationError` for a model
    that cannot be built.
    """
    built = 0
    for model in _subclasses(ApiModel):
        if not model.__pydantic_complete__:
            model.model_rebuild(raise_errors=True)
            built += 1
    return built


def _route_fields(route: Any) -> Iterator[Any]:
    """The FastAPI model fields of an analysed route: parameters (its dependencies' too), body, responses."""
    dependants = [route.dependant]
    while dependants:
        dependant = dependants.pop()
        for kind in ("path_params", "query_params", "header_params", "cookie_params", "body_params"):
            yield from getattr(dependant, kind, ())
        dependants.extend(getattr(dependant, "dependencies", ()))
    yield from (route.body_field, route.response_field, *route.response_fields.values())


def build_route_adapters(route: Any) -> None:
    """Build the pydantic adapters of an analysed FastAPI route's fields (those built already are skipped).

    Raises: pydantic's errors for a field whose type cannot be built.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedFieldAttributeWarning)  # as FastAPI's ModelField does
        for field in _route_fields(route):
            adapter = getattr(field, "_type_adapter", None)
            if adapter is not None and not adapter.pydantic_complete:
                adapter.rebuild(raise_errors=True)
