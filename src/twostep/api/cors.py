"""CORS for the listed origins (`TWOSTEP_CORS_ORIGINS`): Starlette's middleware, as the outermost layer.

Outermost, so that every answer carries the CORS headers a browser needs to read it, those the request
middleware writes itself included (a body over the limit, a bug's 500). A preflight is answered here
and never reaches the request middleware, so it gets the security headers from this layer.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from twostep.api.middleware import SECURITY_HEADERS


class Cors(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        for name, value in SECURITY_HEADERS:
            response.headers.setdefault(name.decode(), value.decode())
        return response
