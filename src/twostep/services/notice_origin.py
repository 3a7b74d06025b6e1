"""When and from where an account change was made, as the end of its notice's email tells the owner.

An owner told "your password was reset" cannot otherwise tell whether that was them. The block gives the
time (UTC, from the service's clock), the device (the browser and system the User-Agent names, or the
tool's) and the network (the /24 or /48, never the whole address: enough to recognise one's own home or
office, not to locate whoever made the change). A change an operator made with the CLI says so instead:
the operator's machine is not the owner's business and must not look like an intruder's. A text never
carries the block: its length is its cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from twostep.domain.models import RequestContext
from twostep.domain.texts import EmailKind
from twostep.services.client_description import name_client, truncate_ip


@dataclass(frozen=True, slots=True)
class NoticeOrigin:
    """When a change was made and from where, reduced to what the owner may see."""

    at: datetime
    device: str | None = None  # "Firefox (Linux)", "curl"; None: the request named nothing useful
    network: str | None = None  # "203.0.113.0/24"; None: no address
    by_administrator: bool = False  # then `device` and `network` are always None

    @classmethod
    def of(cls, ctx: RequestContext, at: datetime, *, by_administrator: bool = False) -> NoticeOrigin:
        """The origin of a change made by the request `ctx` at `at` (an operator's: no device or network)."""
        if by_administrator:
            return cls(at, by_administrator=True)
        return cls(at, name_client(ctx.user_agent).label("{browser} ({system})"), truncate_ip(ctx.ip))


# Japanese writes a label's colon full-width, and the glyph carries its own space: none follows it.
FULL_WIDTH_COLON = "\uff1a"


def origin_block(origin: NoticeOrigin, labels: Mapping[EmailKind, str]) -> str:
    """The lines that end a notice's email, with the labels of the owner's language (`origin_*`; each
    label carries its own colon, as French sets it apart with a space and Japanese writes it full-width)."""
    lines = [_line(labels["origin_time"], f"{origin.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC")]
    if origin.by_administrator:
        lines.append(labels["origin_administrator"])
    else:
        unknown = labels["origin_unknown"]
        lines.append(_line(labels["origin_device"], origin.device or unknown))
        lines.append(_line(labels["origin_network"], origin.network or unknown))
    return "\n".join(lines)


def _line(label: str, value: str) -> str:
    return f"{label}{'' if label.endswith(FULL_WIDTH_COLON) else ' '}{value}"
