"""The configuration reference, generated from the settings model so it cannot drift from the code.

Every field of `twostep.settings.Settings` needs a description: a docstring line right under the field.
`undocumented_settings` lists the ones without; a unit test fails on them.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
from functools import cache
from itertools import pairwise
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from twostep.settings import Settings

HOW_TO_DOCUMENT = (
    "add a docstring line right under the field in src/twostep/settings.py, e.g.\n"
    '    my_setting: int = Field(default=5, ge=1)\n    """What it does, its unit, when to change it."""\n'
    "The configuration reference (docs/configuration.md, built by `make docs`) is generated from it."
)

SECTION_COMMENT = re.compile(r"^    # --- (.+?) ---$")
FIELD_LINE = re.compile(r"^    (\w+): ")


def env_name(field: str) -> str:
    """The variable(s) that set `field`: `TWOSTEP_<FIELD>`, or its aliases (such as `AWS_REGION`)."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        names = [str(choice) for choice in alias.choices if str(choice).isupper()]
        if names:
            return "`, `".join(names)
    return f"TWOSTEP_{field.upper()}"


def sections() -> dict[str, str]:
    """Field name -> the `# --- title ---` comment above it in settings.py (the model's own grouping)."""
    found: dict[str, str] = {}
    title = "Service"
    for line in inspect.getsource(Settings).splitlines():
        if heading := SECTION_COMMENT.match(line):
            title = heading.group(1)[0].upper() + heading.group(1)[1:]
        elif (field := FIELD_LINE.match(line)) and field.group(1) in Settings.model_fields:
            found[field.group(1)] = title
    return found


@cache
def attribute_docstrings() -> dict[str, str]:
    """Field name -> the docstring right under the field in settings.py.

    Read here rather than by pydantic's `use_attribute_docstrings`, which parsed the module's source at
    every start-up, in the server and in each Lambda cold start, only for this page.
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(Settings)))
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    found: dict[str, str] = {}
    for node, following in pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[node.target.id] = inspect.cleandoc(following.value.value)
    return found


def description(name: str, info: FieldInfo) -> str:
    """A field's `Field(description=...)`, else its docstring (what pydantic's option gave)."""
    return info.description or attribute_docstrings().get(name, "")


def undocumented_settings() -> list[str]:
    """Environment names of settings that have no description."""
    return [
        env_name(name) for name, info in Settings.model_fields.items() if not description(name, info).strip()
    ]


def _default(info: FieldInfo) -> str:
    value: Any = info.get_default(call_default_factory=True)
    if value is None:
        return "*unset*"
    if isinstance(value, list):
        return f"`{','.join(value)}`" if value else "*empty*"
    if isinstance(value, bool):
        return f"`{json.dumps(value)}`"
    return f"`{_cell(str(value))}`"


def _bounds(info: FieldInfo) -> str:
    parts = []
    for meta in info.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            bound = getattr(meta, attr, None)
            if bound is not None:
                parts.append(f"{sign} {bound}")
        for attr, text in (("min_length", "length ≥"), ("max_length", "length ≤")):
            bound = getattr(meta, attr, None)
            if bound is not None:
                parts.append(f"{text} {bound}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def settings_markdown() -> str:
    """The settings as Markdown tables, one per section, in the model's order."""
    section_of = sections()
    tables: dict[str, list[str]] = {}
    for name, info in Settings.model_fields.items():
        text = _cell(description(name, info) or "**undocumented**")
        bounds = _bounds(info)
        if bounds:
            text += f" ({bounds})"
        row = f"| `{env_name(name)}` | {_default(info)} | {text} |"
        tables.setdefault(section_of.get(name, "Other"), []).append(row)
    out = []
    for title, rows in tables.items():
        out += [f"## {title}", "", "| Variable | Default | Meaning |", "|---|---|---|", *rows, ""]
    return "\n".join(out)
