"""What an IPFIX export of a flow definition may carry, and the check of ipfixCollectors.

The validation half of ipfix.py: FlowSpec (spec.py) checks a definition's ipfixCollectors
here without importing the exporter, which builds on the flow cache (cache.py -> spec.py).
"""

from __future__ import annotations

import ipaddress
import socket

DEFAULT_PORT = 4739  # IANA port of IPFIX over UDP
_U = "u"  # unsigned integer key
_MAC, _IP4, _IP6 = "mac", "ip4", "ip6"

# flow key -> (Information Element id, length, kind); IANA "IPFIX Information Elements"
KEY_IES = {
    "macsource": (56, 6, _MAC),  # sourceMacAddress
    "macdestination": (80, 6, _MAC),  # destinationMacAddress
    "ethernetprotocol": (256, 2, _U),  # ethernetType
    "vlan": (58, 2, _U),  # vlanId
    "priority": (244, 1, _U),  # dot1qPriority
    "ipprotocol": (4, 1, _U),  # protocolIdentifier
    "ipsource": (8, 4, _IP4),  # sourceIPv4Address
    "ipdestination": (12, 4, _IP4),  # destinationIPv4Address
    "ip6source": (27, 16, _IP6),  # sourceIPv6Address
    "ip6destination": (28, 16, _IP6),  # destinationIPv6Address
    "ip6nexthdr": (193, 1, _U),  # nextHeaderIPv6
    "tcpsourceport": (7, 2, _U),  # sourceTransportPort
    "tcpdestinationport": (11, 2, _U),  # destinationTransportPort
    "udpsourceport": (7, 2, _U),
    "udpdestinationport": (11, 2, _U),
    "inputifindex": (10, 4, _U),  # ingressInterface
    "outputifindex": (14, 4, _U),  # egressInterface
}
VALUE_IES = {"bytes": 1, "frames": 2}  # octetDeltaCount, packetDeltaCount (8 bytes)


# -- validation (FlowSpec) ----------------------------------------------------------------------
def parse_collector(text) -> tuple[str, int, int]:
    """ "ip", "ip:port", "[ipv6]" or "[ipv6]:port" -> (address, port, family); ValueError."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("ipfixCollectors: an address must be a non-empty string")
    s = text.strip()
    host, port = s, None
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise ValueError(f"ipfixCollectors: bad address {text!r}")
        host, rest = s[1:end], s[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"ipfixCollectors: bad address {text!r}")
            port = rest[1:]
    elif s.count(":") == 1:
        host, port = s.split(":")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"ipfixCollectors: {text!r} is not an IP address (ip or ip:port)"
        ) from None
    if port is None:
        p = DEFAULT_PORT
    else:
        if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise ValueError(f"ipfixCollectors: bad port in {text!r}")
        p = int(port)
    return str(ip), p, socket.AF_INET if ip.version == 4 else socket.AF_INET6


def check_definition(spec, collectors) -> list[tuple[str, int, int]]:
    """The collectors of a FlowSpec (ValueError(reason) for anything IPFIX cannot carry)."""
    if not (isinstance(collectors, list) and all(isinstance(c, str) for c in collectors)):
        raise ValueError("ipfixCollectors must be an array of strings")
    out = [parse_collector(c) for c in collectors]
    if not out:
        return out
    ies = set()
    for k in spec.key_texts:
        k = k.strip()
        if k not in KEY_IES:
            raise ValueError(
                f"ipfixCollectors: key {k!r} cannot be exported (allowed: {', '.join(KEY_IES)})"
            )
        ie = KEY_IES[k][0]
        if ie in ies:
            raise ValueError(f"ipfixCollectors: key {k!r} repeats an exported field")
        ies.add(ie)
    names = [spec.value.text] + [v.text for v in spec.values]
    for v in names:
        if v not in VALUE_IES:
            raise ValueError(f"ipfixCollectors: value {v!r} cannot be exported (bytes or frames)")
    if len(set(names)) != len(names):
        raise ValueError("ipfixCollectors: bytes and frames may each be given once")
    return out
