"""Put a router's routes into an app as they are, instead of FastAPI's `include_router`.

Since FastAPI 0.16x, `include_router` keeps the router and, on the first request that walks it, builds an
"effective" copy of each of its routes: every endpoint's parameters, dependencies and response models are
analysed a second time (they were when the router's decorators ran). On a Lambda cold start that second
analysis was most of the first response (~30 ms of CPU for /healthz, measured with cProfile), and in
`twostep serve` it doubled the route objects held in memory. Our routers are included without a prefix,
tags, dependencies or responses of the include's own, so their routes are already exactly what the app
serves: adopting them keeps one analysis, done when the route module is imported (or the router built).

The route objects are shared by every app that adopts them (tests build many apps); they hold no per-app
state. `app.dependency_overrides` does not reach adopted routes; nothing in twostep uses overrides.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI


def adopt_routes(app: FastAPI, router: APIRouter) -> None:
    """Append `router`'s routes, in order, to `app`'s (what `app.include_router(router)` serves, built once)."""
    # include_router would move these handlers to the app; none of our routers has any.
    if router.on_startup or router.on_shutdown:
        raise ValueError("adopt_routes takes routers without start-up or shutdown handlers")
    app.router.routes.extend(router.routes)
