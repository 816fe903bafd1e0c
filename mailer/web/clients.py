"""Who the HTTP client is: the connection's peer, or, behind proxies we trust, the
address they forwarded. The flood limits count per client by this address."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence


def client_ip(peer: str | None, headers: Mapping[str, str], header: str,
              trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """The client's address: the connection's peer, unless that peer is a trusted proxy;
    then the right-most address in `header` (X-Forwarded-For) that is not one of our
    proxies. Anything a client writes into the header itself stays to the left and is
    ignored."""

    def parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            return ipaddress.ip_address(text.strip().strip("[]"))
        except ValueError:
            return None

    def is_trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(ip in net for net in trusted)

    address = parse(peer or "")
    if address is None:
        return peer or "unknown"
    if not trusted or not is_trusted(address):
        return str(address)
    chain = [parse(part) for part in headers.get(header.lower(), "").split(",")]
    for hop in reversed(chain):
        if hop is None:
            break  # garbage: stop at the last address we could read
        if not is_trusted(hop):
            return str(hop)
        address = hop
    return str(address)
