"""Sending sockets shared by the senders (forwarding, tenants, IPFIX export): one non-blocking
UDP socket per address family, opened on first use, so that a full socket buffer is a send
error the caller counts instead of a stall on the sample path. ``destination_ip`` checks the
address a definition sends to."""

from __future__ import annotations

import ipaddress
import socket
from typing import Callable, Iterable


def destination_ip(value, what: str):
    """``value`` (a definition's address field, named ``what`` in the error) as an
    ipaddress object; ValueError (400 in REST) when it is not an IP address string."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an IP address string, not {value!r}")
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an IP address") from None


class FamilySockets:
    """At most one non-blocking UDP socket per address family (AF_INET, AF_INET6).

    ``on_open(family)``, when given, is called each time a family's socket is (re)opened: a
    new socket is a new source port, so a receiver sees a new transport session."""

    __slots__ = ("by_family", "on_open")

    def __init__(self, on_open: Callable[[int], None] | None = None):
        self.by_family: dict[int, socket.socket] = {}
        self.on_open = on_open

    def get(self, family: int) -> socket.socket:
        """The family's socket, opened now if needed (OSError when it cannot be)."""
        sock = self.by_family.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self.by_family[family] = sock
            if self.on_open is not None:
                self.on_open(family)
        return sock

    def keep(self, families: Iterable[int]) -> None:
        """Close the sockets of families not in ``families`` (opens none)."""
        families = set(families)
        for family in [f for f in self.by_family if f not in families]:
            self.by_family.pop(family).close()

    def close_all(self) -> None:
        for sock in self.by_family.values():
            sock.close()
        self.by_family.clear()
