"""Build realistic packet headers (Ethernet, 802.1Q, IPv4/IPv6, TCP/UDP/ICMP, VXLAN) for the
sFlow generator and tests.

``frame(...)`` returns the full frame bytes (without FCS) up to the end of the transport header
plus enough payload bytes to reach ``header_len``; the sampled header is the first
``header_len`` bytes of it. Lengths and checksums inside the headers are consistent with the
frame size the caller asks for, so decoders see plausible packets.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = 0x8100
ETH_QINQ = 0x88A8
FCS_LEN = 4
VXLAN_PORT = 4789

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

_IPV4 = struct.Struct(">BBHHHBBH4s4s")
_IPV6 = struct.Struct(">IHBB16s16s")
_TCP = struct.Struct(">HHIIBBHHH")
_UDP = struct.Struct(">HHHH")


def mac_bytes(mac: str | bytes) -> bytes:
    if isinstance(mac, (bytes, bytearray)):
        return bytes(mac)
    digits = mac.replace(":", "").replace("-", "").replace(".", "")
    return bytes.fromhex(digits.rjust(12, "0"))


def ip_bytes(addr: str) -> bytes:
    return ipaddress.ip_address(addr).packed


def checksum(data: bytes) -> int:
    if len(data) & 1:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(dst: str | bytes, src: str | bytes, ethertype: int, vlans: tuple | list = ()) -> bytes:
    """Ethernet II header; vlans is a list of VLAN ids or (vid, priority) pairs, outermost
    first (two or more tags make QinQ: outer TPID 0x88A8)."""
    out = mac_bytes(dst) + mac_bytes(src)
    for i, tag in enumerate(vlans):
        vid, pcp = (tag, 0) if isinstance(tag, int) else tag
        tpid = ETH_QINQ if len(vlans) > 1 and i == 0 else ETH_VLAN
        out += struct.pack(">HH", tpid, (pcp & 7) << 13 | (vid & 0xFFF))
    return out + struct.pack(">H", ethertype)


def ipv4(
    src: str,
    dst: str,
    proto: int,
    total_len: int,
    tos: int = 0,
    ttl: int = 64,
    ident: int = 0,
    dont_fragment: bool = True,
    frag_offset: int = 0,
) -> bytes:
    flags = (0x4000 if dont_fragment else 0) | (frag_offset & 0x1FFF)
    hdr = _IPV4.pack(
        0x45,
        tos,
        total_len & 0xFFFF,
        ident & 0xFFFF,
        flags,
        ttl,
        proto,
        0,
        ip_bytes(src),
        ip_bytes(dst),
    )
    return hdr[:10] + struct.pack(">H", checksum(hdr)) + hdr[12:]


def ipv6(
    src: str,
    dst: str,
    next_header: int,
    payload_len: int,
    traffic_class: int = 0,
    flow_label: int = 0,
    hop_limit: int = 64,
) -> bytes:
    first = 6 << 28 | (traffic_class & 0xFF) << 20 | (flow_label & 0xFFFFF)
    return _IPV6.pack(
        first, payload_len & 0xFFFF, next_header, hop_limit, ip_bytes(src), ip_bytes(dst)
    )


def tcp(
    sport: int, dport: int, flags: int = TCP_ACK, seq: int = 1, ack: int = 1, window: int = 65535
) -> bytes:
    return _TCP.pack(
        sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags & 0xFF, window, 0, 0
    )


def udp(sport: int, dport: int, length: int) -> bytes:
    return _UDP.pack(sport, dport, length & 0xFFFF, 0)


def icmp(icmp_type: int = 8, code: int = 0, ident: int = 1, seq: int = 1) -> bytes:
    hdr = struct.pack(">BBHHH", icmp_type, code, 0, ident, seq)
    return hdr[:2] + struct.pack(">H", checksum(hdr)) + hdr[4:]


def vxlan(vni: int) -> bytes:
    return struct.pack(">II", 0x08000000, (vni & 0xFFFFFF) << 8)


def _payload(n: int) -> bytes:
    return bytes((i * 7 + 13) & 0xFF for i in range(max(0, n)))


def ip_packet(
    src: str,
    dst: str,
    proto: int,
    ip_len: int,
    sport: int = 0,
    dport: int = 0,
    tcp_flags: int = TCP_ACK,
    tos: int = 0,
    ttl: int = 64,
    ident: int = 0,
    icmp_type: int = 8,
    icmp_code: int = 0,
    flow_label: int = 0,
    payload: bytes | None = None,
) -> bytes:
    """An IPv4 or IPv6 packet (chosen by the address family) of ip_len bytes in total.
    Payload bytes are filled in only as far as ``payload`` gives or 256 filler bytes."""
    v6 = ":" in src
    l3 = 40 if v6 else 20
    if proto == 6:
        l4 = tcp(sport, dport, tcp_flags)
    elif proto == 17:
        l4 = udp(sport, dport, ip_len - l3)
    elif proto in (1, 58):
        l4 = icmp(icmp_type, icmp_code)
    else:
        l4 = b""
    if v6:
        if proto == 1:
            proto = 58
        head = ipv6(src, dst, proto, ip_len - l3, tos, flow_label, ttl)
    else:
        head = ipv4(src, dst, proto, ip_len, tos, ttl, ident)
    body = payload if payload is not None else _payload(min(256, ip_len - l3 - len(l4)))
    return head + l4 + body


def frame(
    src_mac: str | bytes,
    dst_mac: str | bytes,
    src: str,
    dst: str,
    proto: int,
    frame_len: int,
    sport: int = 0,
    dport: int = 0,
    vlans: tuple | list = (),
    tcp_flags: int = TCP_ACK,
    tos: int = 0,
    ttl: int = 64,
    ident: int = 0,
    icmp_type: int = 8,
    icmp_code: int = 0,
    vxlan_inner: bytes | None = None,
    vni: int = 0,
) -> bytes:
    """An Ethernet frame (without FCS) whose on-the-wire size, FCS included, is frame_len.
    With vxlan_inner (an inner Ethernet frame), the packet is outer UDP to port 4789."""
    l2 = ethernet(dst_mac, src_mac, ETH_IPV6 if ":" in src else ETH_IPV4, vlans)
    ip_len = frame_len - FCS_LEN - len(l2)
    if vxlan_inner is not None:
        payload = vxlan(vni) + vxlan_inner
        packet = ip_packet(
            src,
            dst,
            17,
            ip_len,
            sport or 49152,
            VXLAN_PORT,
            tos=tos,
            ttl=ttl,
            ident=ident,
            payload=payload,
        )
    else:
        packet = ip_packet(
            src, dst, proto, ip_len, sport, dport, tcp_flags, tos, ttl, ident, icmp_type, icmp_code
        )
    return l2 + packet


def sampled_header(frame_bytes: bytes, header_len: int = 128) -> bytes:
    return frame_bytes[:header_len]


def inet_aton(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)
