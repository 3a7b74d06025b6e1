"""The HTTP API reference, generated from the OpenAPI document the service itself serves."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def openapi_document() -> dict[str, Any]:
    """`/openapi.json` of the full API, from an app over memory storage and throw-away keys."""
    from twostep.api.app import create_app
    from twostep.container import build
    from twostep.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            storage="memory",
            jwt_key_file=Path(folder) / "keys.json",
            sms_providers=["console"],
            verify_api_keys=["documentation-build"],
        )
        container = build(settings)
        try:
            document: dict[str, Any] = create_app(container).openapi()
        finally:
            container.close()
    return document


def _schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return f"`{schema['$ref'].rsplit('/', 1)[-1]}`"
    if "anyOf" in schema:
        return " or ".join(_schema_name(part) for part in schema["anyOf"])
    return f"`{schema.get('type', 'object')}`"


def _body(operation: dict[str, Any]) -> str:
    content = operation.get("requestBody", {}).get("content", {})
    return ", ".join(f"{_schema_name(media.get('schema', {}))} ({kind})" for kind, media in content.items())


def _parameters(operation: dict[str, Any]) -> str:
    rows = []
    for parameter in operation.get("parameters", []):
        required = "required" if parameter.get("required") else "optional"
        rows.append(f"`{parameter['name']}` ({parameter['in']}, {required})")
    return ", ".join(rows)


def _operation(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    out = [f"### `{method.upper()} {path}`", ""]
    summary = operation.get("summary", "")
    description = operation.get("description", "").strip()
    if summary:
        out += [summary, ""]
    if description and description != summary:
        out += [description, ""]
    if parameters := _parameters(operation):
        out += [f"Parameters: {parameters}.", ""]
    if body := _body(operation):
        out += [f"Body: {body}.", ""]
    out += ["| Status | Meaning |", "|---|---|"]
    for status, response in operation.get("responses", {}).items():
        out.append(f"| {status} | {' '.join(str(response.get('description', '')).split())} |")
    return [*out, ""]


def api_markdown(document: dict[str, Any] | None = None) -> str:
    """One section per tag, one entry per operation, then the schemas' names."""
    document = document or openapi_document()
    by_tag: dict[str, list[str]] = {}
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                tag = (item[method].get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).extend(_operation(path, method, item[method]))
    out = []
    for tag, lines in by_tag.items():
        out += [f"## {tag.capitalize()}", "", *lines]
    schemas = sorted(document.get("components", {}).get("schemas", {}))
    out += [
        "## Schemas",
        "",
        "The full schemas are in [openapi.json](openapi.json): " + ", ".join(f"`{s}`" for s in schemas) + ".",
    ]
    return "\n".join(out)


def openapi_json() -> str:
    return json.dumps(openapi_document(), indent=2)
