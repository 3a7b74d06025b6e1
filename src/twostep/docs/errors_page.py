"""The table of problem+json `code`s the accounts API answers, generated from the error classes and
the HTTP edge's own answers, so the documentation names no code the API never returns."""

from __future__ import annotations

# Answers of the HTTP edge rather than of an error class (api/errors.py, api/edge.py, api/cors.py).
EDGE_CODES: dict[str, tuple[int, str]] = {
    "not_found": (404, "No route at this path."),
    "method_not_allowed": (405, "The path does not serve this method; `Allow` names those it does."),
    "body_too_large": (413, "The body is over 64 KiB; refused before any route reads it."),
    "unsupported_media_type": (415, "The body is not sent as JSON."),
    "headers_too_large": (431, "The request line and headers are too large."),
    "malformed_request": (400, "The bytes are not valid HTTP/1.1."),
    "cors_refused": (400, "A browser's preflight from an origin or with a header that is not allowed."),
    "internal_error": (500, "A bug; it has been logged, and nothing of it is in the answer."),
}


def _error_classes() -> list[type[Exception]]:
    """Every error class the app can raise, most general first (the app loaded, so all are defined)."""
    import twostep.api.app  # noqa: F401  (defines every error class the routes raise)
    from twostep.domain.errors import TwoStepError

    found: list[type[Exception]] = []
    todo: list[type[Exception]] = [TwoStepError]
    while todo:
        cls = todo.pop(0)
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def error_codes() -> dict[str, tuple[int, str]]:
    """`code` -> (HTTP status, what it means) for every code the accounts API answers."""
    from twostep.api.errors import status_for
    from twostep.domain.errors import TwoStepError

    codes: dict[str, tuple[int, str]] = {}
    for cls in _error_classes():
        if not issubclass(cls, TwoStepError) or cls.code in codes:
            continue
        status = status_for(cls.__new__(cls))
        if status != 500:  # not an HTTP answer (a start-up error) or only as internal_error
            codes[cls.code] = (status, cls.default_message)
    return codes | EDGE_CODES


def error_codes_markdown() -> str:
    """The codes as a Markdown table, by status then code."""
    rows = sorted(error_codes().items(), key=lambda item: (item[1][0], item[0]))
    lines = ["| `code` | status | meaning |", "|---|---|---|"]
    lines += [f"| `{code}` | {status} | {_cell(meaning)} |" for code, (status, meaning) in rows]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
