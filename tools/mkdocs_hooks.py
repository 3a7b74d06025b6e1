"""MkDocs hooks: fill the reference pages from the code, and fail the build on an undocumented setting.

A page asks for generated content with a marker line such as `<!-- generated: settings -->`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

from twostep.docs.api_page import api_markdown, openapi_json
from twostep.docs.cli_page import cli_markdown, exit_codes_markdown
from twostep.docs.errors_page import error_codes_markdown
from twostep.docs.providers_page import providers_markdown
from twostep.docs.settings_page import HOW_TO_DOCUMENT, settings_markdown, undocumented_settings

GENERATORS: dict[str, Callable[[], str]] = {
    "settings": settings_markdown,
    "cli": cli_markdown,
    "exit-codes": exit_codes_markdown,
    "http-api": api_markdown,
    "error-codes": error_codes_markdown,
    "providers": providers_markdown,
}


def on_files(files: Files, config: Any) -> Files:
    missing = undocumented_settings()
    if missing:
        raise PluginError(
            f"settings without a description: {', '.join(missing)}. To fix it, {HOW_TO_DOCUMENT}"
        )
    files.append(File.generated(config, "reference/openapi.json", content=openapi_json()))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    for name, generate in GENERATORS.items():
        marker = f"<!-- generated: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
