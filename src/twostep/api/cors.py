"""CORS for the listed origins (`TWOSTEP_CORS_ORIGINS`): Starlette's middleware, as the outermost layer.

Outermost, so that every answer carries the CORS headers a browser needs to read it, those the request
middleware writes itself included (a body over the limit, a bug's 500). A preflight is answered here
and never reaches the request middleware, so it gets the security headers from this layer, and a
refused one is problem+json like every other refusal (Starlette's is bare text).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from twostep.api.errors import problem
from twostep.api.middleware import SECURITY_HEADERS

# What Starlette's refusal text starts with, before the parts refused ("origin, method").
_REFUSED = "Disallowed CORS "


class Cors(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 400:
            refused = bytes(response.body).decode().removeprefix(_REFUSED)
            detail = f"This cross-origin request is not allowed (its {refused})."
            kept = {
                k: v for k, v in response.headers.items() if k.startswith("access-control-") or k == "vary"
            }
            response = problem(400, "cors_refused", detail, headers=kept)
        for name, value in SECURITY_HEADERS:
            response.headers.setdefault(name.decode(), value.decode())
        return response
