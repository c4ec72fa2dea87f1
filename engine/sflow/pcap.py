"""Read sFlow datagrams out of classic libpcap files (Ethernet/IPv4|IPv6/UDP or raw IP)."""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from typing import Iterator, NamedTuple

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD_LE = struct.Struct("<IIII")
_RECORD_BE = struct.Struct(">IIII")

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113


class PcapDatagram(NamedTuple):
    time: float  # capture time, seconds since the epoch
    src: str  # UDP source address (the agent's sending address)
    sport: int
    dport: int
    payload: bytes  # the sFlow datagram


class PcapError(ValueError):
    pass


def read_pcap(path: str | Path, port: int | None = None) -> Iterator[PcapDatagram]:
    """Yield the UDP payloads of a pcap, optionally only those to/from `port`."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise PcapError(f"{path}: not a pcap file")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        rec, nano = _RECORD_LE, magic == b"\x4d\x3c\xb2\xa1"
        linktype = struct.unpack_from("<I", data, 20)[0]
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        rec, nano = _RECORD_BE, magic == b"\xa1\xb2\x3c\x4d"
        linktype = struct.unpack_from(">I", data, 20)[0]
    else:
        raise PcapError(f"{path}: not a classic pcap file (pcapng is not supported)")
    off = 24
    scale = 1e-9 if nano else 1e-6
    while off + 16 <= len(data):
        sec, frac, caplen, _ = rec.unpack_from(data, off)
        off += 16
        frame = data[off : off + caplen]
        off += caplen
        udp = _udp(frame, linktype & 0xFFFF)
        if udp is None:
            continue
        src, sport, dport, payload = udp
        if port is not None and port not in (sport, dport):
            continue
        yield PcapDatagram(sec + frac * scale, src, sport, dport, payload)


def _udp(frame: bytes, linktype: int):
    if linktype == LINKTYPE_ETHERNET:
        off = 12
        if len(frame) < 14:
            return None
        ethertype = struct.unpack_from(">H", frame, off)[0]
        off += 2
        while ethertype in (0x8100, 0x88A8, 0x9100) and len(frame) >= off + 4:
            ethertype = struct.unpack_from(">H", frame, off + 2)[0]
            off += 4
    elif linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        ethertype = struct.unpack_from(">H", frame, 14)[0]
        off = 16
    elif linktype == LINKTYPE_RAW:
        ethertype = 0x0800 if frame[:1] and frame[0] >> 4 == 4 else 0x86DD
        off = 0
    else:
        return None
    if ethertype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 0x0F) * 4
        if frame[off + 9] != 17:
            return None
        src = socket.inet_ntop(socket.AF_INET, frame[off + 12 : off + 16])
        total = struct.unpack_from(">H", frame, off + 2)[0]
        end = off + total if total else len(frame)
        off += ihl
    elif ethertype == 0x86DD and len(frame) >= off + 40:
        if frame[off + 6] != 17:
            return None
        src = socket.inet_ntop(socket.AF_INET6, frame[off + 8 : off + 24])
        end = off + 40 + struct.unpack_from(">H", frame, off + 4)[0]
        off += 40
    else:
        return None
    if len(frame) < off + 8:
        return None
    sport, dport = struct.unpack_from(">HH", frame, off)
    return src, sport, dport, frame[off + 8 : min(end, len(frame))]
