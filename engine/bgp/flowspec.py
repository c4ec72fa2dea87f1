"""BGP FlowSpec (RFC 8955 for IPv4, RFC 8956 for IPv6): sFlow-RT style rule objects
``{"match": {...}, "then": {...}}`` compiled to NLRI + extended communities and pushed to a
router whose session negotiated the flowspec / flowspec6 family.

Match values are operator expressions: numeric components take ``=17``, ``>=1024&<=2048``, and
``|`` or ``,`` between alternatives; bitmask components (tcp-flags FSRPAUECN, fragment DIFL) take
``=S`` (all given bits set), ``S`` (any of them), ``!S`` / ``!=S`` (negated).
"""

from __future__ import annotations

import ipaddress
import re
import struct

from . import message as m

NUMERIC = {
    "protocol": 3,
    "port": 4,
    "destination-port": 5,
    "source-port": 6,
    "icmp-type": 7,
    "icmp-code": 8,
    "length": 10,
    "dscp": 11,
    "flow-label": 13,
}
BITMASK = {"tcp-flags": 9, "fragment": 12}
TCP_FLAGS = {c: 1 << i for i, c in enumerate("FSRPAUECN")}
FRAGMENT = {"D": 1, "I": 2, "F": 4, "L": 8}
DSCP = {
    "be": 0,
    "le": 1,
    "cs0": 0,
    "cs1": 8,
    "cs2": 16,
    "cs3": 24,
    "cs4": 32,
    "cs5": 40,
    "cs6": 48,
    "cs7": 56,
    "ef": 46,
    "va": 44,
    **{f"af{c}{d}": 8 * c + 2 * d for c in range(1, 5) for d in range(1, 4)},
}
ACTIONS = {"none": 0, "continue": 1, "sample": 2, "sampleandcontinue": 3}
_ATOM = re.compile(r"^(==|=|!=|<=|>=|<|>|!)?\s*(.+)$")


class FlowRule:
    __slots__ = (
        "afi",
        "nlri",
        "ext_communities",
        "communities",
        "large_communities",
        "spec",
        "key",
    )

    def __init__(self, afi, nlri, ext, std, large, spec):
        self.afi, self.nlri, self.ext_communities = afi, nlri, ext
        self.communities, self.large_communities, self.spec = std, large, spec
        self.key = f"{afi}:{nlri.hex()}"


def compile_flow(spec: dict) -> FlowRule:
    """Raises ValueError with a reason for anything it cannot encode."""
    if not isinstance(spec, dict) or not isinstance(spec.get("match"), dict):
        raise ValueError("flowspec needs a match object")
    match, then = spec["match"], spec.get("then") or {}
    if not isinstance(then, dict):
        raise ValueError("flowspec then must be an object")
    version = str(match.get("version", "")).strip()
    afi = None
    if version in ("4", "6"):
        afi = m.AFI_IPV4 if version == "4" else m.AFI_IPV6
    components: list[tuple[int, bytes]] = []
    for name, ctype in (("destination", 1), ("source", 2)):
        if match.get(name):
            net = ipaddress.ip_network(str(match[name]), strict=False)
            fam = m.AFI_IPV4 if net.version == 4 else m.AFI_IPV6
            if afi is not None and afi != fam:
                raise ValueError(f"{name} {net} does not match version {version}")
            afi = fam
            raw = net.network_address.packed[: (net.prefixlen + 7) // 8]
            if fam == m.AFI_IPV4:
                components.append((ctype, bytes((ctype, net.prefixlen)) + raw))
            else:
                components.append((ctype, bytes((ctype, net.prefixlen, 0)) + raw))
    afi = afi or m.AFI_IPV4
    for name, value in match.items():
        if name in ("destination", "source", "version"):
            continue
        if name in NUMERIC:
            ctype = NUMERIC[name]
            if name == "flow-label" and afi != m.AFI_IPV6:
                raise ValueError("flow-label applies to IPv6 only")
            if name == "dscp":
                value = _dscp_names(value)
            components.append((ctype, bytes((ctype,)) + _numeric(str(value))))
        elif name in BITMASK:
            ctype = BITMASK[name]
            names = TCP_FLAGS if name == "tcp-flags" else FRAGMENT
            components.append((ctype, bytes((ctype,)) + _bitmask(str(value), names)))
        else:
            raise ValueError(f"unknown flowspec match field {name}")
    if not components:
        raise ValueError("flowspec match is empty")
    components.sort(key=lambda c: c[0])  # RFC 8955 §4.2: strictly increasing type order
    body = b"".join(c[1] for c in components)
    if len(body) >= 240:
        nlri = struct.pack(">H", 0xF000 | len(body)) + body
    else:
        nlri = bytes((len(body),)) + body
    ext, std, large = _actions(then)
    return FlowRule(afi, nlri, tuple(ext), std, large, {"match": dict(match), "then": dict(then)})


def _terms(text: str):
    for alt in re.split(r"[|,]", text):
        atoms = [a.strip() for a in alt.split("&") if a.strip()]
        if not atoms:
            raise ValueError(f"empty term in {text!r}")
        yield atoms


def _numeric(text: str) -> bytes:
    out: list[list] = []
    for term in _terms(text):
        for i, atom in enumerate(term):
            found = _ATOM.match(atom)
            if found is None:  # cannot happen: atoms are stripped and not empty
                raise ValueError(f"bad term {atom!r} in {text!r}")
            op, val = found.groups()
            op = op or "="
            bits = {"=": 1, "==": 1, "<": 4, ">": 2, "<=": 5, ">=": 3, "!=": 6, "!": 6}[op]
            v = int(val, 0)
            if v < 0 or v > 0xFFFFFFFF:
                raise ValueError(f"value out of range in {text!r}")
            size, fmt = (0, ">B") if v < 256 else (1, ">H") if v < 65536 else (2, ">I")
            opbyte = (0x40 if i else 0) | size << 4 | bits
            out.append([opbyte, struct.pack(fmt, v)])
    out[-1][0] |= 0x80
    return b"".join(bytes((o,)) + v for o, v in out)


def _bitmask(text: str, names: dict) -> bytes:
    out: list[list] = []
    for term in _terms(text):
        for i, atom in enumerate(term):
            found = _ATOM.match(atom)
            if found is None:  # cannot happen: atoms are stripped and not empty
                raise ValueError(f"bad term {atom!r} in {text!r}")
            op, val = found.groups()
            mbit = 1 if op in ("=", "==", "!=") else 0
            notbit = 2 if op in ("!", "!=") else 0
            if op in ("<", ">", "<=", ">="):
                raise ValueError(f"bad bitmask operator in {text!r}")
            v = 0
            for ch in val.strip().upper():
                if ch not in names:
                    raise ValueError(f"unknown flag {ch!r} in {text!r}")
                v |= names[ch]
            size, fmt = (0, ">B") if v < 256 else (1, ">H")
            out.append([(0x40 if i else 0) | size << 4 | notbit | mbit, struct.pack(fmt, v)])
    out[-1][0] |= 0x80
    return b"".join(bytes((o,)) + v for o, v in out)


def _dscp_names(value) -> str:
    return re.sub(
        r"[a-zA-Z][a-zA-Z0-9]*",
        lambda mo: str(DSCP[mo.group(0).lower()]) if mo.group(0).lower() in DSCP else mo.group(0),
        str(value),
    )


def _actions(then: dict):
    ext, std, large = [], (), ()
    for name, value in then.items():
        value = str(value).strip()
        if name == "traffic-rate":
            ext.append(struct.pack(">BBHf", 0x80, 0x06, 0, float(value)))
        elif name == "traffic-action":
            if value.lower() not in ACTIONS:
                raise ValueError(f"traffic-action must be one of {', '.join(ACTIONS)}")
            ext.append(struct.pack(">BB5xB", 0x80, 0x07, ACTIONS[value.lower()]))
        elif name == "traffic-marking":
            dscp = DSCP.get(value.lower())
            dscp = int(value) if dscp is None else dscp
            if not 0 <= dscp < 64:
                raise ValueError("traffic-marking DSCP out of range")
            ext.append(struct.pack(">BB5xB", 0x80, 0x09, dscp))
        elif name == "redirect-as":
            asn, _, num = value.partition(":")
            ext.append(struct.pack(">BBHI", 0x80, 0x08, int(asn), int(num)))
        elif name == "redirect-as4":
            asn, _, num = value.partition(":")
            ext.append(struct.pack(">BBIH", 0x82, 0x08, int(asn), int(num)))
        elif name == "redirect-ip":
            ip, _, num = value.partition(":")
            ext.append(
                struct.pack(">BB4sH", 0x81, 0x08, ipaddress.IPv4Address(ip).packed, int(num or 0))
            )
        elif name == "communities":
            std, large = m.parse_communities(value)
        else:
            raise ValueError(f"unsupported flowspec action {name}")
    return ext, std, large


def send_flow(session, rule: FlowRule, withdraw: bool = False) -> None:
    if (rule.afi, m.SAFI_FLOWSPEC) not in session.families or session.state != "established":
        return
    if withdraw:
        session.send(m.encode_mp_unreach(rule.afi, m.SAFI_FLOWSPEC, rule.nlri))
        return
    attrs = m.PathAttrs(
        origin=0,
        aspath=(),
        communities=rule.communities,
        large_communities=rule.large_communities,
        ext_communities=rule.ext_communities,
    )
    mp = m.mp_reach_value(rule.afi, m.SAFI_FLOWSPEC, b"", rule.nlri)
    encoded = m.encode_attrs(attrs, session.as4, session.ibgp, session.neighbor.local_as, mp=mp)
    session.send(m.encode_update_v4(encoded, []))
