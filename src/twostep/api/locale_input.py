"""A request's language for code texts: the body's `locale`, before its `Accept-Language` header."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from pydantic import Field, StrictStr

from twostep.domain.locales import normalise_locale
from twostep.domain.models import RequestContext

LocaleField = Annotated[
    StrictStr | None,
    Field(
        default=None,
        description="The language of the code text, a BCP 47 tag (`de`, `tr`, `pt-BR`); it comes before "
        "`Accept-Language`, the account's own language and the number's country. A tag without bundled "
        "texts falls through to the next; a malformed one is refused (400).",
    ),
]


def with_locale(ctx: RequestContext, locale: str | None) -> RequestContext:
    """`ctx` with the body's `locale` first among the languages it asks for.

    Raises: InvalidInput naming `locale` (400) for a malformed tag.
    """
    if locale is None:
        return ctx
    return replace(ctx, locales=(normalise_locale(locale), *ctx.locales))
