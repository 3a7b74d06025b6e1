"""What the session and device lists and a notice's email show about a client: its names and a truncated
address.

The User-Agent is reduced to a browser and a system (or the tool's name), never stored whole: the session
and device lists show "<browser> on <system>" (`client_label`), a notice "<browser> (<system>)", all from
the one parser (`name_client`). The IP address is reduced to its /24 (IPv4) or /48 (IPv6) network: enough to recognise
"my laptop at home", not to locate or fingerprint anyone.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

from twostep.domain.addresses import unmapped

MAX_DESCRIPTION = 60
# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)
_TOOL = re.compile(r"^([A-Za-z][A-Za-z0-9._-]{0,30})/[0-9]")


@dataclass(frozen=True, slots=True)
class ClientNames:
    """What a User-Agent names: a browser and a system, or else a tool; all None when it names nothing."""

    browser: str | None = None
    system: str | None = None
    tool: str | None = None  # `curl`, `python-httpx`: only read when no browser or system is named

    def label(self, both: str) -> str | None:
        """`both` (with `{browser}` and `{system}`) when both are known, else whichever is, else the tool."""
        if self.browser and self.system:
            return both.format(browser=self.browser, system=self.system)
        return self.browser or self.system or self.tool


def name_client(user_agent: str | None) -> ClientNames:
    """The browser, system or tool a User-Agent names (nothing for one that is missing or unknown)."""
    return _names_in((user_agent or "").strip()[:512])


# Naming a client costs about 2 us, on every sign-in; the same few agents come back again and again. The key
# is cut to 512 characters first, so the cache holds at most about half a megabyte.
@functools.lru_cache(maxsize=1024)
def _names_in(agent: str) -> ClientNames:
    browser = next((name for marker, name in _BROWSERS if marker in agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in agent), None)
    if browser or system:
        return ClientNames(browser=browser, system=system)
    tool = _TOOL.match(agent)
    return ClientNames(tool=tool.group(1)[:MAX_DESCRIPTION] if tool else None)


def client_label(user_agent: str | None) -> str | None:
    """ "Firefox on Linux", "curl", "python-httpx": a client's name in the session and device lists; None
    when the User-Agent names nothing."""
    return name_client(user_agent).label("{browser} on {system}")


def describe_client(user_agent: str | None) -> str | None:
    """`client_label`, "Unknown client" for an agent that names nothing; None when nothing was sent."""
    if not user_agent or not user_agent.strip():
        return None
    return client_label(user_agent) or "Unknown client"


# Parsing an address and building its network costs about 12 us, on every sign-in; the same few
# addresses come back again and again.
@functools.lru_cache(maxsize=1024)
def truncate_ip(ip: str | None) -> str | None:
    """`203.0.113.7` -> `203.0.113.0/24`, `2001:db8:1:2::7` -> `2001:db8:1::/48`; None if not an address."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    # A server listening on `::` sees an IPv4 client as `::ffff:203.0.113.7`, whose /48 is `::/48`: the
    # whole IPv4 internet. Its /24 is what the owner can recognise.
    address = unmapped(address)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
