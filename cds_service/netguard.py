"""Where the FHIR-server fallback may connect: destination checks after DNS resolution (SSRF guard).

A `fhirServer` is chosen by the caller, so before the service connects to it every address the
host name resolves to is checked: loopback, private, link-local, unspecified, multicast, reserved,
shared (CGNAT) and cloud-metadata addresses are refused, also when wrapped in an IPv6 form
(IPv4-mapped, IPv4-compatible, NAT64, 6to4: judged by the IPv4 address they lead to). The check sits in the HTTP client's resolver
(`GuardedResolver`), so the connection goes to exactly the addresses that were checked: there is
no second lookup a DNS-rebinding server could answer differently. Host names that are numbers in
a legacy form (`2130706433`, `0x7f000001`, `127.1`, `0177.0.0.1`) are refused outright.
"""
from __future__ import annotations

import ipaddress
import re
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata and host-agent endpoints (AWS, GCP, Azure, Alibaba, Oracle, ECS).
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.253", "fd00:ec2::254", "fd00:ec2::23",
    "168.63.129.16", "100.100.100.200", "192.0.0.192",
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not global, not "private" in 3.11
# inet_aton's forms: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x).
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)


class DestinationRefused(OSError):
    """The host resolves to an address the fallback must not connect to; `why` is for the log."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to (IPv4-mapped, IPv4-compatible, NAT64, 6to4)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: str | IPAddress) -> str | None:
    """Why the fallback may not connect to this resolved address, or None when it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        ip = inner  # the packets go to the IPv4 host: judge that one
    checks = (("metadata", ip in METADATA), ("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
              ("link-local", ip.is_link_local), ("private", ip.is_private), ("multicast", ip.is_multicast),
              ("shared", ip in _SHARED), ("reserved", ip.is_reserved), ("not global", not ip.is_global))
    return next((name for name, hit in checks if hit), None)


def check_host(host: str) -> None:
    """Refuse, before any lookup, host names the HTTP client would not resolve through the guard.

    IP literals are checked here (the client connects to them without a lookup); numbers in any
    other form than dotted quads are refused, since resolvers map them to surprising addresses.
    """
    try:
        literal = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        if ":" in host or _NUMERIC_HOST.fullmatch(host):
            raise DestinationRefused("numeric host in a non-canonical form") from None
        return
    why = refusal(literal)
    if why:
        raise DestinationRefused(why)


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses a host when any of its addresses is not public."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        check_host(host)
        results = await self._inner.resolve(host, port, family)
        for result in results:
            why = refusal(result["host"])
            if why:
                raise DestinationRefused(why)
        return results

    async def close(self) -> None:
        await self._inner.close()
