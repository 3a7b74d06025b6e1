"""An IPv4 client of a server listening on `::` arrives as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).

It is the IPv4 address it stands for: an IPv4 network contains it, its /24 names it, it is loopback when
`127.0.0.1` is. Python's `ipaddress` (before 3.13) says none of that of the mapped form.
"""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def unmapped(address: Address) -> Address:
    """The IPv4 address `::ffff:a.b.c.d` stands for; any other address as it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def mapped_network(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> ipaddress.IPv6Network | None:
    """`10.0.0.0/8` as IPv4-mapped IPv6 addresses (`::ffff:10.0.0.0/104`); None for an IPv6 network."""
    if isinstance(network, ipaddress.IPv6Network):
        return None
    return ipaddress.IPv6Network(f"::ffff:{network.network_address}/{96 + network.prefixlen}")
