"""Routes whose FastAPI analysis waits until something needs it.

FastAPI analyses an endpoint when its route is declared: the signature, the dependencies, the body and
the response model become pydantic fields, each with its validator and serialiser built at once. A
Lambda cold start answers one route, yet paid that for all of them: ~6% of the instructions of the
bench's import + first response (`bench/figures_aws.py`, counted with callgrind), ~17 ms.

A `DeferredRoute` keeps at first only what routing needs to tell whether a request is for it (the
path's pattern and converters, the methods, the name) and runs FastAPI's own `APIRoute.__init__`, with
the arguments it was declared with, the first time anything else is asked of it: the first request it
serves, the OpenAPI document, a test reading its `dependant`. So every route answers its first request
exactly as an eagerly analysed one, and the document is the same. `realize_routes` analyses every
route of an app at once: `twostep serve` does so at start, so a served worker answers its first
requests at full speed and a route that cannot be analysed stops the start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import compile_path, get_name

from twostep.api.pydantic_v1_check import skip_needless_pydantic_v1_import
from twostep.api.schema_model import build_route_adapters

# Every route module declares its routes through this module's route classes, so this runs before any
# route is analysed; here rather than in the package, whose light modules (error causes for the Lambda
# handler) must not import FastAPI.
skip_needless_pydantic_v1_import()

# One lock for all routes: realizing one takes well under a millisecond, and it happens once per route.
_REALIZING = threading.RLock()


class DeferredRoute(APIRoute):
    """An `APIRoute` analysed on first use (see the module docstring); subclass it as `APIRoute`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        self._deferred: tuple[str, Callable[..., Any], dict[str, Any]] | None = (path, endpoint, kwargs)
        # What Starlette's routing reads to match a request and build a URL, set as APIRoute sets them.
        self.path = path
        self.endpoint = endpoint
        name = kwargs.get("name")
        self.name = get_name(endpoint) if name is None else name
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        self.methods = {method.upper() for method in kwargs.get("methods") or ["GET"]}
        self.include_in_schema = kwargs.get("include_in_schema", True)

    @property
    def realized(self) -> bool:
        return self.__dict__.get("_deferred") is None

    def realize(self) -> None:
        """Run FastAPI's analysis now (once; later calls do nothing)."""
        with _REALIZING:
            deferred = self.__dict__.get("_deferred")
            if deferred is None:
                return
            path, endpoint, kwargs = deferred
            self._deferred = None  # attributes read during the analysis are plain misses, not a loop
            try:
                super().__init__(path, endpoint, **kwargs)
                build_route_adapters(self)  # its deferred models' adapters (see api.schema_model)
            except BaseException:
                self._deferred = deferred
                raise

    def __getattr__(self, name: str) -> Any:
        """Called only for attributes not set yet: everything the analysis sets."""
        if name.startswith("__") or self.__dict__.get("_deferred") is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.realize()
        return getattr(self, name)


def realize_routes(app: FastAPI) -> None:
    """Analyse every deferred route of `app` now."""
    for route in app.router.routes:
        if isinstance(route, DeferredRoute):
            route.realize()
