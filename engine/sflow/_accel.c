/* Optional C accelerator for FlowSample.attributes() (see docs/decoder.md, "Accelerator").
 *
 * flow_attributes(sample) builds the same dict as attributes.flow_attributes for the common
 * case: sampled_header (0:1) with Ethernet [+ one 802.1Q tag] or raw IPv4/IPv6, IPv4 (any
 * options, fragments), IPv6 without extension headers, TCP, UDP (incl. DNS questions), ICMP,
 * ICMPv6, plus extended_switch (0:1001). Other records that carry flow keys are handed to the
 * Python record handlers with the same dict, exactly as the Python loop does. Anything else
 * (tunnels, QinQ, ARP, MPLS, IPv6 extension headers, 802.11, discard samples, a malformed
 * record) makes it drop its partial dict and run the Python function on the sample instead,
 * so errors and odd cases behave exactly as in pure Python.
 *
 * Tables and key names come from the Python modules (setup()), so both paths share them.
 * Every read of the sample buffer is bounds-checked against the record/header end.
 */
#include "_accel.h"
#include <structmember.h>
#include <arpa/inet.h>
#include <string.h>

/* ------------------------------------------------------------------ configuration */

static PyObject *py_fallback;       /* attributes.python_flow_attributes */
PyTypeObject *acc_flow_type;        /* datagram.FlowSample (exact type only) */
#define flow_type acc_flow_type
static PyObject *handlers;          /* attributes._HANDLERS: tag -> fn(buf, off, rend, a) */
static PyObject *dns_types;         /* header.DNS_TYPES */
static PyObject *tcp_flags[512], *bin8[256], *bin2[4], *bin3[8], *dscp_names[64];
static PyObject *s_true, *s_false, *s_internal, *s_unknown, *s_discard, *s_multiple,
    *s_ingress, *s_egress, *one;
static int configured;

enum {
    F_BUF, F_REC_OFF, F_REC_END, F_NREC, F_INPUT, F_OUTPUT, F_INPUT_FORMAT, F_OUTPUT_FORMAT,
    F_DS_CLASS, F_DS_INDEX, F_SAMPLING_RATE, NFIELDS
};
static const char *field_names[NFIELDS] = {
    "buf", "rec_off", "rec_end", "nrec", "input", "output", "input_format", "output_format",
    "ds_class", "ds_index", "sampling_rate"};
static Py_ssize_t field_off[NFIELDS];   /* byte offsets of FlowSample's __slots__ */

static const char *key_names[NKEYS] = {
    "bytes", "stripped", "frames", "inputifindex", "outputifindex", "direction", "samplingrate",
    "stack", "macdestination", "macsource", "isbroadcast", "ismulticast", "isunicast",
    "ethernetprotocol", "vlan", "priority",
    "ipsource", "ipdestination", "ipprotocol", "iptos", "ipdscp", "ipdscpname", "ipecn", "ipttl",
    "ipflags", "ipfragoffset", "ipbytes", "ipid", "ip_offset",
    "ip6source", "ip6destination", "ip6nexthdr", "ip6tos", "ip6dscp", "ip6dscpname", "ip6ecn",
    "ip6flowlabel", "ip6ttl", "ip6bytes", "ip6_offset",
    "tcpsourceport", "tcpdestinationport", "tcpflags", "udpsourceport", "udpdestinationport",
    "udpbytes", "icmptype", "icmpcode", "icmpseqno", "icmpunreachablenet", "icmpunreachablehost",
    "icmpunreachableprotocol", "icmpunreachableport", "icmp6type", "icmp6code",
    "dnsqr", "dnsrcode", "dnsqname", "dnsqtype", "dnsqtypename",
    "vlansource", "prioritysource", "vlandestination", "prioritydestination",
    "ipnexthoprouter", "ipsourcemaskbits", "ipdestinationmaskbits"};
PyObject *acc_K[NKEYS];
#define K acc_K

/* stack strings: [eth][l3: none/ip/ip6][l4: none/tcp/udp/icmp/icmp6], built on first use */
static PyObject *stacks[2][3][5];
static const char *l3_names[3] = {NULL, "ip", "ip6"};
static const char *l4_names[5] = {NULL, "tcp", "udp", "icmp", "icmp6"};


/* ------------------------------------------------------------------ string caches */
/* Direct-mapped caches of address/MAC strings: a few hosts and MACs recur in nearly every
 * sample, and reusing the string object saves formatting and allocation. */

#define MAC_SLOTS 4096
#define IP4_SLOTS 4096
#define IP6_SLOTS 2048
static struct { unsigned char k[6]; PyObject *s; } mac_cache[MAC_SLOTS];
static struct { uint32_t k; PyObject *s; } ip4_cache[IP4_SLOTS];
static struct { unsigned char k[16]; PyObject *s; } ip6_cache[IP6_SLOTS];
/* agent address strings: direct-mapped, so a table of thousands of agents costs a string only
 * when two addresses share a slot */
#define AGENT4_SLOTS 32768         /* two ways per set: 16384 sets */
#define AGENT6_SLOTS 8192
static struct { uint32_t k; PyObject *s; } agent4_cache[AGENT4_SLOTS];
static struct { unsigned char k[16]; PyObject *s; } agent6_cache[AGENT6_SLOTS];
#define DS_SLOTS 1024   /* data_source strings by (class, index) */
static struct { uint64_t k; PyObject *s; } ds_cache[DS_SLOTS];
#define SHAPE_SLOTS 256  /* dicts with the key sequences samples produce, values None */
static struct { int n; unsigned char key[NKEYS]; PyObject *tmpl; } shapes[SHAPE_SLOTS];

static inline uint32_t rd16(const unsigned char *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static inline uint32_t rd32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Ports, lengths, VLANs and most ifIndexes are below 65536: their int objects are kept, so
 * a sample's values cost no allocation (2 MB at most, filled as values occur). */
#define UINT_SLOTS 65536
static PyObject *uint_cache[UINT_SLOTS];

PyObject *acc_uint(unsigned long v)
{
    if (v >= UINT_SLOTS)
        return PyLong_FromUnsignedLong(v);
    PyObject *o = uint_cache[v];
    if (o == NULL && (o = uint_cache[v] = PyLong_FromUnsignedLong(v)) == NULL)
        return NULL;
    return Py_NewRef(o);
}

static PyObject *mac_str(const unsigned char *m)   /* new reference */
{
    static const char hex[] = "0123456789ABCDEF";
    uint32_t hsh = (rd32(m + 2) * 2654435761u) ^ (rd16(m) * 40503u);
    unsigned i = (hsh >> 16) & (MAC_SLOTS - 1);
    if (mac_cache[i].s && memcmp(mac_cache[i].k, m, 6) == 0) {
        Py_INCREF(mac_cache[i].s);
        return mac_cache[i].s;
    }
    char buf[12];
    for (int j = 0; j < 6; j++) {
        buf[2 * j] = hex[m[j] >> 4];
        buf[2 * j + 1] = hex[m[j] & 15];
    }
    PyObject *s = PyUnicode_FromStringAndSize(buf, 12);
    if (!s)
        return NULL;
    Py_XSETREF(mac_cache[i].s, s);
    Py_INCREF(s);
    memcpy(mac_cache[i].k, m, 6);
    return s;
}

static PyObject *ip4_str(const unsigned char *p)
{
    uint32_t v = rd32(p);
    unsigned i = ((v * 2654435761u) >> 20) & (IP4_SLOTS - 1);
    if (ip4_cache[i].s && ip4_cache[i].k == v) {
        Py_INCREF(ip4_cache[i].s);
        return ip4_cache[i].s;
    }
    char buf[16];
    int n = 0;
    for (int j = 0; j < 4; j++) {
        unsigned b = p[j];
        if (b >= 100) {
            buf[n++] = (char)('0' + b / 100);
            buf[n++] = (char)('0' + (b / 10) % 10);
        } else if (b >= 10) {
            buf[n++] = (char)('0' + b / 10);
        }
        buf[n++] = (char)('0' + b % 10);
        if (j < 3)
            buf[n++] = '.';
    }
    PyObject *s = PyUnicode_FromStringAndSize(buf, n);
    if (!s)
        return NULL;
    Py_XSETREF(ip4_cache[i].s, s);
    Py_INCREF(s);
    ip4_cache[i].k = v;
    return s;
}

static PyObject *ip6_str(const unsigned char *p)
{
    uint32_t hsh = rd32(p) ^ rd32(p + 4) * 31u ^ rd32(p + 8) * 131u ^ rd32(p + 12) * 2654435761u;
    unsigned i = (hsh ^ (hsh >> 13)) & (IP6_SLOTS - 1);
    if (ip6_cache[i].s && memcmp(ip6_cache[i].k, p, 16) == 0) {
        Py_INCREF(ip6_cache[i].s);
        return ip6_cache[i].s;
    }
    /* the same libc call socket.inet_ntop makes, so the text is identical */
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(AF_INET6, p, buf, sizeof buf)) {
        PyErr_SetString(PyExc_ValueError, "inet_ntop failed");
        return NULL;
    }
    PyObject *s = PyUnicode_FromString(buf);
    if (!s)
        return NULL;
    Py_XSETREF(ip6_cache[i].s, s);
    Py_INCREF(s);
    memcpy(ip6_cache[i].k, p, 16);
    return s;
}

static void clear_caches(void)
{
    for (int i = 0; i < MAC_SLOTS; i++)
        Py_CLEAR(mac_cache[i].s);
    for (int i = 0; i < IP4_SLOTS; i++)
        Py_CLEAR(ip4_cache[i].s);
    for (int i = 0; i < IP6_SLOTS; i++)
        Py_CLEAR(ip6_cache[i].s);
    for (int i = 0; i < DS_SLOTS; i++)
        Py_CLEAR(ds_cache[i].s);
    for (int i = 0; i < SHAPE_SLOTS; i++)
        Py_CLEAR(shapes[i].tmpl);
    for (int i = 0; i < AGENT4_SLOTS; i++)
        Py_CLEAR(agent4_cache[i].s);
    for (int i = 0; i < AGENT6_SLOTS; i++)
        Py_CLEAR(agent6_cache[i].s);
}

/* ------------------------------------------------------------------ dict helpers */


void acc_attrs_init(attrs_t *a, PyObject *wset, const uint64_t *mask)
{
    a->dict = NULL;
    a->n = 0;
    memset(a->pos, -1, sizeof a->pos);
    a->wset = wset;
    a->mask[0] = mask ? mask[0] : ~0ull;
    a->mask[1] = mask ? mask[1] : ~0ull;
    a->seen[0] = a->seen[1] = 0;
}

void acc_attrs_clear(attrs_t *a)
{
    for (int i = 0; i < a->n; i++)
        Py_DECREF(a->val[i]);
    a->n = 0;
    Py_CLEAR(a->dict);
}


/* a new dict holding the array's keys and values, in order */
PyObject *acc_attrs_dict(attrs_t *a)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < a->n; i++)
        h = (h ^ a->key[i]) * 16777619u;
    unsigned slot = (h ^ (h >> 16)) & (SHAPE_SLOTS - 1);
    if (!(shapes[slot].tmpl && shapes[slot].n == a->n &&
          memcmp(shapes[slot].key, a->key, (size_t)a->n) == 0)) {
        PyObject *t = PyDict_New();
        if (t == NULL)
            return NULL;
        for (int i = 0; i < a->n; i++) {
            if (PyDict_SetItem(t, K[a->key[i]], Py_None) < 0) {
                Py_DECREF(t);
                return NULL;
            }
        }
        Py_XSETREF(shapes[slot].tmpl, t);
        shapes[slot].n = a->n;
        memcpy(shapes[slot].key, a->key, (size_t)a->n);
    }
    PyObject *d = PyDict_Copy(shapes[slot].tmpl);
    if (d == NULL)
        return NULL;
    for (int i = 0; i < a->n; i++) {
        if (PyDict_SetItem(d, K[a->key[i]], a->val[i]) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

/* switch to a real dict (before Python code sees it) */
int acc_attrs_materialize(attrs_t *a)
{
    if (a->dict)
        return 0;
    PyObject *d = acc_attrs_dict(a);
    if (d == NULL)
        return -1;
    for (int i = 0; i < a->n; i++)
        Py_DECREF(a->val[i]);
    a->n = 0;
    a->dict = d;
    return 0;
}

/* steal a new reference `v` into a[K[k]] */
static inline int put(attrs_t *a, int k, PyObject *v)
{
    if (v == NULL)
        return -1;
    if (a->dict) {
        int r = PyDict_SetItem(a->dict, K[k], v);
        Py_DECREF(v);
        return r;
    }
    int p = a->pos[k];
    if (p >= 0) {
        Py_SETREF(a->val[p], v);    /* a dict keeps the first position, takes the last value */
    } else {
        a->pos[k] = (signed char)a->n;
        a->key[a->n] = (unsigned char)k;
        a->val[a->n++] = v;
    }
    return 0;
}

/* Note that the sample has key k; true if its value is wanted. Every value goes through
 * this before it is built, so keys nobody asked for cost a bit operation. */
static inline int want(attrs_t *a, int k)
{
    uint64_t bit = 1ull << (k & 63);
    a->seen[k >> 6] |= bit;
    return (a->mask[k >> 6] & bit) != 0;
}

/* a new reference built by `expr` (evaluated only if wanted) into a[K[k]] */
#define PUTN(a, k, expr) (want((a), (k)) ? put((a), (k), (expr)) : 0)

/* borrowed value */
static inline int putb(attrs_t *a, int k, PyObject *v)
{
    if (!want(a, k))
        return 0;
    Py_INCREF(v);
    return put(a, k, v);
}

static inline int putu(attrs_t *a, int k, unsigned long v)
{
    if (!want(a, k))
        return 0;
    return put(a, k, acc_uint(v));
}

/* whether the sample already has key k (wanted or not), or -1 */
static int contains(attrs_t *a, int k)
{
    if (a->seen[k >> 6] & (1ull << (k & 63)))
        return 1;
    return a->dict ? PyDict_Contains(a->dict, K[k]) : 0;   /* set by a Python handler */
}

#define TRY(x) do { if ((x) < 0) return -1; } while (0)

/* ------------------------------------------------------------------ packet header */

typedef struct {
    const unsigned char *h;
    Py_ssize_t end;
    attrs_t *a;
    int eth, l3, l4;
} hdr_t;

/* Return values of the layer decoders: OK, FALLBACK, or -1 (Python error set). */

static int l4(hdr_t *c, Py_ssize_t off, int proto);

static int tos_keys(attrs_t *a, int base, unsigned tos)
{
    /* base is K_iptos or K_ip6tos: tos, dscp, dscpname, ecn follow in that order */
    TRY(putb(a, base, bin8[tos]));
    TRY(putu(a, base + 1, tos >> 2));
    TRY(putb(a, base + 2, dscp_names[tos >> 2]));
    TRY(putb(a, base + 3, bin2[tos & 3]));
    return OK;
}

static int tcp_inline(hdr_t *c, Py_ssize_t off)
{
    const unsigned char *h = c->h;
    c->l4 = 1;
    TRY(putu(c->a, K_tcpsourceport, rd16(h + off)));
    TRY(putu(c->a, K_tcpdestinationport, rd16(h + off + 2)));
    TRY(putb(c->a, K_tcpflags, tcp_flags[((h[off + 12] & 1) << 8) | h[off + 13]]));
    return OK;
}

static int ip4(hdr_t *c, Py_ssize_t off)
{
    const unsigned char *h = c->h;
    Py_ssize_t end = c->end;
    attrs_t *a = c->a;
    if (end - off < 20)
        return OK;
    unsigned vi = h[off];
    Py_ssize_t ihl = (vi & 15) << 2;
    if ((vi >> 4) != 4 || ihl < 20)
        return OK;
    c->l3 = 1;
    unsigned tos = h[off + 1], proto = h[off + 9];
    uint32_t frag = rd16(h + off + 6);
    TRY(PUTN(a, K_ipsource, ip4_str(h + off + 12)));
    TRY(PUTN(a, K_ipdestination, ip4_str(h + off + 16)));
    TRY(putu(a, K_ipprotocol, proto));
    TRY(tos_keys(a, K_iptos, tos));
    TRY(putu(a, K_ipttl, h[off + 8]));
    TRY(putu(a, K_ipbytes, rd16(h + off + 2)));
    TRY(putu(a, K_ipid, rd16(h + off + 4)));
    TRY(putu(a, K_ip_offset, (unsigned long)off));
    TRY(putb(a, K_ipflags, bin3[frag >> 13]));
    TRY(putu(a, K_ipfragoffset, frag & 0x1FFF));
    if (frag & 0x1FFF)
        return OK;          /* not the first fragment: no L4 header here */
    off += ihl;
    if (proto == 6 && end - off >= 14)
        return tcp_inline(c, off);
    if (off <= end)
        return l4(c, off, (int)proto);
    return OK;
}

static int ip6(hdr_t *c, Py_ssize_t off)
{
    const unsigned char *h = c->h;
    Py_ssize_t end = c->end;
    attrs_t *a = c->a;
    if (end - off < 40 || (h[off] >> 4) != 6)
        return OK;
    unsigned nh = h[off + 6];
    if (nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60)
        return FALLBACK;    /* extension headers */
    c->l3 = 2;
    uint32_t w = rd32(h + off);
    TRY(PUTN(a, K_ip6source, ip6_str(h + off + 8)));
    TRY(PUTN(a, K_ip6destination, ip6_str(h + off + 24)));
    TRY(tos_keys(a, K_ip6tos, (w >> 20) & 0xFF));
    TRY(putu(a, K_ip6flowlabel, w & 0xFFFFF));
    TRY(putu(a, K_ip6ttl, h[off + 7]));
    TRY(putu(a, K_ip6bytes, rd16(h + off + 4)));
    TRY(putu(a, K_ip6_offset, (unsigned long)off));
    off += 40;
    TRY(putu(a, K_ip6nexthdr, nh));
    if (nh == 6 && end - off >= 14)
        return tcp_inline(c, off);
    return l4(c, off, (int)nh);
}

static int dns(hdr_t *c, Py_ssize_t off)
{
    const unsigned char *h = c->h;
    Py_ssize_t end = c->end;
    attrs_t *a = c->a;
    if (end - off < 12)
        return OK;
    uint32_t flags = rd16(h + off + 2), qd = rd16(h + off + 4);
    if (flags & 0x7800)     /* opcode other than QUERY */
        return OK;
    TRY(putb(a, K_dnsqr, (flags & 0x8000) ? s_true : s_false));
    TRY(putu(a, K_dnsrcode, flags & 15));
    if (qd < 1)
        return OK;
    char name[256];
    Py_ssize_t nlen = 0, total = 0, p = off + 12;
    int terminated = 0;
    while (p < end) {
        unsigned ln = h[p];
        if (ln == 0) {
            p++;
            terminated = 1;
            break;
        }
        if ((ln & 0xC0) || total + ln > 253)
            return OK;      /* compression pointers do not belong in a question */
        p++;
        if (p + (Py_ssize_t)ln > end)
            return OK;
        if (nlen)
            name[nlen++] = '.';
        memcpy(name + nlen, h + p, ln);     /* total <= 253 keeps nlen < 256 */
        nlen += ln;
        total += ln + 1;
        p += ln;
    }
    if (!terminated || end - p < 2)
        return OK;
    /* ASCII with U+FFFD for other bytes, as bytes.decode("ascii", "replace") per label */
    TRY(PUTN(a, K_dnsqname, PyUnicode_DecodeASCII(name, nlen, "replace")));
    uint32_t qt = rd16(h + p);
    int want_type = want(a, K_dnsqtype), want_name = want(a, K_dnsqtypename);
    if (!want_type && !want_name)
        return OK;
    PyObject *qto = PyLong_FromUnsignedLong(qt);
    if (!qto)
        return -1;
    if (putb(a, K_dnsqtype, qto) < 0) {
        Py_DECREF(qto);
        return -1;
    }
    if (!want_name) {
        Py_DECREF(qto);
        return OK;
    }
    PyObject *tn = PyDict_GetItemWithError(dns_types, qto);   /* borrowed */
    if (tn == NULL && PyErr_Occurred()) {
        Py_DECREF(qto);
        return -1;
    }
    if (tn != NULL && PyObject_IsTrue(tn) == 1) {
        Py_DECREF(qto);
        return putb(a, K_dnsqtypename, tn);
    }
    PyObject *str = PyObject_Str(qto);
    Py_DECREF(qto);
    return put(a, K_dnsqtypename, str);
}

static int l4(hdr_t *c, Py_ssize_t off, int proto)
{
    const unsigned char *h = c->h;
    Py_ssize_t end = c->end, left = end - off;
    attrs_t *a = c->a;
    if (proto == 6) {
        if (left < 8)
            return OK;
        c->l4 = 1;
        TRY(putu(a, K_tcpsourceport, rd16(h + off)));
        TRY(putu(a, K_tcpdestinationport, rd16(h + off + 2)));
        if (left >= 14)
            TRY(putb(a, K_tcpflags, tcp_flags[((h[off + 12] & 1) << 8) | h[off + 13]]));
    } else if (proto == 17) {
        if (left < 8)
            return OK;
        uint32_t sport = rd16(h + off), dport = rd16(h + off + 2);
        if (dport == 4789 || dport == 6081 || dport == 6635)
            return FALLBACK;    /* VXLAN, Geneve, MPLS over UDP */
        c->l4 = 2;
        TRY(putu(a, K_udpsourceport, sport));
        TRY(putu(a, K_udpdestinationport, dport));
        TRY(putu(a, K_udpbytes, rd16(h + off + 4)));
        if (dport == 53 || sport == 53)
            return dns(c, off + 8);
    } else if (proto == 1) {
        if (left < 8)
            return OK;
        c->l4 = 3;
        unsigned t = h[off], code = h[off + 1];
        TRY(putu(a, K_icmptype, t));
        TRY(putu(a, K_icmpcode, code));
        if (t == 0 || t == 8) {
            TRY(putu(a, K_icmpseqno, rd16(h + off + 6)));
        } else if (t == 3 && left >= 28 && (h[off + 8] >> 4) == 4) {
            /* the quoted datagram says what could not be reached */
            Py_ssize_t q = off + 8;
            if (code == 0) {
                TRY(PUTN(a, K_icmpunreachablenet, ip4_str(h + q + 16)));
            } else if (code == 1) {
                TRY(PUTN(a, K_icmpunreachablehost, ip4_str(h + q + 16)));
            } else if (code == 2) {
                TRY(putu(a, K_icmpunreachableprotocol, h[q + 9]));
            } else if (code == 3) {
                Py_ssize_t qp = q + ((h[q] & 15) << 2);
                if (end - qp >= 4 && (h[q + 9] == 6 || h[q + 9] == 17))
                    TRY(putu(a, K_icmpunreachableport, rd16(h + qp + 2)));
            }
        }
    } else if (proto == 58) {
        if (left < 8)
            return OK;
        c->l4 = 4;
        TRY(putu(a, K_icmp6type, h[off]));
        TRY(putu(a, K_icmp6code, h[off + 1]));
    } else if (proto == 47 || proto == 4 || proto == 41) {
        return FALLBACK;        /* GRE, IP-in-IP */
    }
    return OK;
}

static inline int is_tpid(uint32_t et)
{
    return et == 0x8100 || et == 0x88A8 || et == 0x9100 || et == 0x9200 || et == 0x9300;
}

static int eth(hdr_t *c)
{
    const unsigned char *h = c->h;
    Py_ssize_t end = c->end, off = 0;
    attrs_t *a = c->a;
    if (end < 14)
        return OK;
    c->eth = 1;
    TRY(PUTN(a, K_macdestination, mac_str(h)));
    TRY(PUTN(a, K_macsource, mac_str(h + 6)));
    if (h[0] & 1) {
        int bc = memcmp(h, "\xff\xff\xff\xff\xff\xff", 6) == 0;
        TRY(putb(a, K_isbroadcast, bc ? s_true : s_false));
        TRY(putb(a, K_ismulticast, bc ? s_false : s_true));
        TRY(putb(a, K_isunicast, s_false));
    } else {
        TRY(putb(a, K_isbroadcast, s_false));
        TRY(putb(a, K_ismulticast, s_false));
        TRY(putb(a, K_isunicast, s_true));
    }
    uint32_t et = rd16(h + 12);
    off = 14;
    if (is_tpid(et) && end - off >= 4) {
        /* one tag; a second (QinQ) and an earlier header's "vlan" go to Python's numbering */
        int has = contains(a, K_vlan);
        if (has != 0)
            return has < 0 ? -1 : FALLBACK;
        uint32_t tci = rd16(h + off);
        TRY(putu(a, K_vlan, tci & 0x0FFF));
        TRY(putu(a, K_priority, tci >> 13));
        et = rd16(h + off + 2);
        off += 4;
        if (is_tpid(et) && end - off >= 4)
            return FALLBACK;
    }
    if (et <= 1500) {
        /* 802.3 length: only LLC/SNAP with OUI 000000 carries an ethertype */
        if (end - off >= 8 && h[off] == 0xAA && h[off + 1] == 0xAA && h[off + 2] == 0x03 &&
            h[off + 3] == 0 && h[off + 4] == 0 && h[off + 5] == 0) {
            et = rd16(h + off + 6);
            off += 8;
        } else {
            return OK;
        }
    }
    TRY(putu(a, K_ethernetprotocol, et));
    if (et == 0x0800)
        return ip4(c, off);
    if (et == 0x86DD)
        return ip6(c, off);
    if (et == 0x0806 || et == 0x8847 || et == 0x8848)
        return FALLBACK;        /* ARP, MPLS */
    return OK;
}

static PyObject *stack_str(int e, int l3, int l4)
{
    PyObject *s = stacks[e][l3][l4];
    if (s == NULL) {
        char buf[32];
        buf[0] = 0;
        if (e)
            strcat(buf, "eth");
        if (l3) {
            if (buf[0])
                strcat(buf, ".");
            strcat(buf, l3_names[l3]);
        }
        if (l4) {
            strcat(buf, ".");
            strcat(buf, l4_names[l4]);
        }
        s = stacks[e][l3][l4] = PyUnicode_InternFromString(buf);
    }
    return s;   /* borrowed */
}

static int decode_header(const unsigned char *h, Py_ssize_t hlen, uint32_t proto, attrs_t *a)
{
    hdr_t c = {h, hlen, a, 0, 0, 0};
    int r;
    if (proto == 1)
        r = eth(&c);
    else if (proto == 11)
        r = ip4(&c, 0);
    else if (proto == 12)
        r = ip6(&c, 0);
    else if (proto == 15)
        return FALLBACK;        /* 802.11 */
    else
        return OK;
    if (r != OK)
        return r;
    if (c.eth || c.l3) {
        PyObject *s = stack_str(c.eth, c.l3, c.l4);
        if (s == NULL)
            return -1;
        TRY(putb(a, K_stack, s));
    }
    return OK;
}

/* ------------------------------------------------------------------ sample */

static int get_u64(PyObject *o, unsigned long long *v)
{
    if (o == NULL || !PyLong_CheckExact(o))
        return -1;
    *v = PyLong_AsUnsignedLongLong(o);
    if (*v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return 0;
}

/* the inputifindex/outputifindex value; vo: the port number's int object, or NULL */
static PyObject *port_value(unsigned long long fmt, unsigned long long v, PyObject *vo)
{
    if (fmt == 0 && v > 0 && v < 0x3FFFFFFF)
        return vo != NULL ? Py_NewRef(vo) : acc_uint((unsigned long)v);
    PyObject *r;
    if (fmt == 0)
        r = v == 0x3FFFFFFF ? s_internal : v == 0 ? s_unknown : vo;
    else if (fmt == 1)
        r = s_discard;
    else if (fmt == 2)
        r = s_multiple;
    else
        r = s_unknown;
    if (r == NULL)
        return acc_uint((unsigned long)v);
    Py_INCREF(r);
    return r;
}

static PyObject *write_only_tags;   /* attributes.WRITE_ONLY_HANDLERS: tags of handlers that
                                     * only store into the dict they get */
static PyObject *key_index;         /* key name -> its K_ id (int) */

/* A subset's run of a write-only record handler: on an empty dict, whose wanted keys are then
 * stored in `a` in the handler's order (as if it had written into `a` itself). 0 or -1. */
static int run_write_only(PyObject *fn, PyObject *bufobj, unsigned long long off,
                          unsigned long long rend, attrs_t *a)
{
    PyObject *scratch = PyDict_New();
    if (scratch == NULL)
        return -1;
    PyObject *res = PyObject_CallFunction(fn, "OKKO", bufobj, off, rend, scratch);
    if (res == NULL) {
        Py_DECREF(scratch);
        return -1;
    }
    Py_DECREF(res);
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    int r = 0;
    while (r == 0 && PyDict_Next(scratch, &pos, &k, &v)) {
        Py_INCREF(k);       /* a key's __eq__ could change the scratch dict */
        Py_INCREF(v);
        PyObject *id = PyDict_GetItemWithError(key_index, k);   /* borrowed */
        if (id != NULL) {
            r = putb(a, (int)PyLong_AsLong(id), v);
        } else if (PyErr_Occurred()) {
            r = -1;
        } else {
            int c = PySet_Contains(a->wset, k);
            if (c < 0 || (c && (acc_attrs_materialize(a) < 0 || PyDict_SetItem(a->dict, k, v) < 0)))
                r = -1;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    Py_DECREF(scratch);
    return r;
}

/* Build the attribute dict of a sample described by `f` into `a`. OK, FALLBACK, FULL
 * (subsets only) or -1. */
int acc_fields_attrs(const sfields_t *fl, attrs_t *a)
{
    const unsigned char *buf = fl->buf;
    PyObject *bufobj = fl->bufobj;
    int r = FALLBACK;
    unsigned long long off = fl->rec_off, end = fl->rec_end, nrec = fl->nrec;
    if (end > (unsigned long long)fl->buflen || off > end || nrec > SFLOW_MAX_RECORDS)
        return FALLBACK;
    for (unsigned long long i = 0; i < nrec; i++) {
        if (off + 8 > end)
            return FALLBACK;
        uint32_t tag = rd32(buf + off), length = rd32(buf + off + 4);
        off += 8;
        unsigned long long rend = off + length;
        if (rend > end)
            return FALLBACK;
        if (tag == 1) {
            if (length < 16)
                return FALLBACK;
            uint32_t proto = rd32(buf + off), flen = rd32(buf + off + 4),
                     stripped = rd32(buf + off + 8), hlen = rd32(buf + off + 12);
            unsigned long long hs = off + 16;
            if (hs + hlen > rend)
                return FALLBACK;
            if (putu(a, K_bytes, flen) < 0 || putu(a, K_stripped, stripped) < 0)
                return -1;
            r = decode_header(buf + hs, (Py_ssize_t)hlen, proto, a);
            if (r != OK)
                return r;
        } else if (tag == 1001) {
            if (length < 16)
                return FALLBACK;
            uint32_t in_vlan = rd32(buf + off), in_prio = rd32(buf + off + 4),
                     out_vlan = rd32(buf + off + 8), out_prio = rd32(buf + off + 12);
            if (in_vlan != 0xFFFFFFFF) {
                if (putu(a, K_vlansource, in_vlan) < 0 || putu(a, K_prioritysource, in_prio) < 0)
                    return -1;
            }
            if (out_vlan != 0xFFFFFFFF) {
                if (putu(a, K_vlandestination, out_vlan) < 0 ||
                    putu(a, K_prioritydestination, out_prio) < 0)
                    return -1;
            }
        } else if (tag == 1002) {
            /* extended_router: next hop address, source and destination mask lengths */
            uint32_t atype = length >= 4 ? rd32(buf + off) : 0;
            unsigned long long alen = atype == 1 ? 4 : atype == 2 ? 16 : 0;
            if (alen == 0 || 4 + alen + 8 > length)
                return FALLBACK;    /* Python raises (unknown address type, truncated) */
            const unsigned char *ap = buf + off + 4;
            if (PUTN(a, K_ipnexthoprouter, alen == 4 ? ip4_str(ap) : ip6_str(ap)) < 0 ||
                putu(a, K_ipsourcemaskbits, rd32(ap + alen)) < 0 ||
                putu(a, K_ipdestinationmaskbits, rd32(ap + alen + 4)) < 0)
                return -1;
        } else {
            PyObject *tago = PyLong_FromUnsignedLong(tag);
            if (tago == NULL)
                return -1;
            PyObject *fn = PyDict_GetItemWithError(handlers, tago);   /* borrowed */
            int write_only = fn != NULL && a->wset != NULL
                                 ? PySet_Contains(write_only_tags, tago) : 0;
            Py_DECREF(tago);
            if (fn == NULL) {
                if (PyErr_Occurred())
                    return -1;
            } else if (write_only < 0) {
                return -1;
            } else if (a->wset == NULL) {
                /* the Python record handler, on the same dict, as the Python loop calls it */
                if (acc_attrs_materialize(a) < 0)
                    return -1;
                PyObject *res = PyObject_CallFunction(fn, "OKKO", bufobj, off, rend, a->dict);
                if (res == NULL)
                    return -1;      /* it raised: Python redoes the sample and raises the same */
                Py_DECREF(res);
            } else if (!write_only) {
                return FULL;        /* it reads the dict: only the full dict gives it what it expects */
            } else if (run_write_only(fn, bufobj, off, rend, a) < 0) {
                return -1;
            }
        }
        off += ((unsigned long long)length + 3) & ~3ull;
    }
    unsigned long long vin = fl->input, vout = fl->output;
    unsigned long long fin = fl->input_format, fout = fl->output_format;
    if (putb(a, K_frames, one) < 0 ||
        PUTN(a, K_inputifindex, port_value(fin, vin, fl->input_obj)) < 0 ||
        PUTN(a, K_outputifindex, port_value(fout, vout, fl->output_obj)) < 0)
        return -1;
    if (fl->ds_class == 0) {
        if (fl->ds_index == vin && fin == 0) {
            if (putb(a, K_direction, s_ingress) < 0)
                return -1;
        } else if (fl->ds_index == vout && fout == 0) {
            if (putb(a, K_direction, s_egress) < 0)
                return -1;
        }
    }
    if (want(a, K_samplingrate)) {
        PyObject *rate = fl->rate_obj;
        if (rate == NULL)
            return FALLBACK;    /* every caller passes it; never guess */
        if (putb(a, K_samplingrate, rate) < 0)
            return -1;
    }
    return OK;
}

/* Build the attribute dict of FlowSample `s` into `a`. OK, FALLBACK, FULL (subsets only) or
 * -1. */
static int sample_attrs(PyObject *s, attrs_t *a)
{
    PyObject *f[NFIELDS];
    unsigned long long u[NFIELDS];
    for (int i = 0; i < NFIELDS; i++) {
        f[i] = *(PyObject **)((char *)s + field_off[i]);
        if (i != F_BUF && get_u64(f[i], &u[i]) < 0)
            return FALLBACK;
    }
    PyObject *bufobj = f[F_BUF];
    if (bufobj == NULL)
        return FALLBACK;
    Py_INCREF(bufobj);      /* the record handlers run Python code: keep the buffer alive */
    Py_buffer view;
    sfields_t fl;
    int have_view = 0;
    if (PyBytes_CheckExact(bufobj)) {
        fl.buf = (const unsigned char *)PyBytes_AS_STRING(bufobj);
        fl.buflen = PyBytes_GET_SIZE(bufobj);
    } else {
        if (PyObject_GetBuffer(bufobj, &view, PyBUF_SIMPLE) < 0) {
            PyErr_Clear();
            Py_DECREF(bufobj);
            return FALLBACK;
        }
        have_view = 1;
        fl.buf = (const unsigned char *)view.buf;
        fl.buflen = view.len;
    }
    fl.bufobj = bufobj;
    fl.rec_off = u[F_REC_OFF];
    fl.rec_end = u[F_REC_END];
    fl.nrec = u[F_NREC];
    fl.input = u[F_INPUT];
    fl.output = u[F_OUTPUT];
    fl.input_format = u[F_INPUT_FORMAT];
    fl.output_format = u[F_OUTPUT_FORMAT];
    fl.ds_class = u[F_DS_CLASS];
    fl.ds_index = u[F_DS_INDEX];
    fl.input_obj = f[F_INPUT];
    fl.output_obj = f[F_OUTPUT];
    fl.rate_obj = f[F_SAMPLING_RATE];
    int r = acc_fields_attrs(&fl, a);
    if (r == OK) {
        /* the handlers only get the buffer, but re-check the slots they could have reached */
        for (int i = F_INPUT; i <= F_SAMPLING_RATE; i++) {
            if (*(PyObject **)((char *)s + field_off[i]) != f[i]) {
                r = FALLBACK;
                break;
            }
        }
    }
    if (have_view)
        PyBuffer_Release(&view);
    Py_DECREF(bufobj);
    return r;
}

static PyObject *fast_attributes(PyObject *s)
{
    if (Py_TYPE(s) != flow_type)
        Py_RETURN_NONE;
    attrs_t a;
    acc_attrs_init(&a, NULL, NULL);
    int r = sample_attrs(s, &a);
    if (r == OK) {
        PyObject *d = a.dict ? Py_NewRef(a.dict) : acc_attrs_dict(&a);
        acc_attrs_clear(&a);
        if (d != NULL)
            return d;
        r = -1;
    }
    acc_attrs_clear(&a);
    if (r < 0)
        PyErr_Clear();
    Py_RETURN_NONE;
}

static PyObject *m_flow_attributes(PyObject *self, PyObject *s)
{
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "_accel.setup() not called");
        return NULL;
    }
    PyObject *a = fast_attributes(s);
    if (a != Py_None)
        return a;
    Py_DECREF(a);
    return PyObject_CallOneArg(py_fallback, s);
}

/* ------------------------------------------------------------------ subsets */
/* flow_attributes_subset(sample, wanted, shared=False): the full dict restricted to the names
 * in the frozenset `wanted` (None: the full, cached attributes()). The C keys nobody wants are
 * not built; a record handler that reads the dict, a fallback sample or a sample whose full
 * dict is already cached take the subset from the full dict (which the sample then caches).
 * shared=True (for readers that do not change the dict): where that full dict exists, it is
 * returned itself rather than cut down. */

static Py_ssize_t attrs_slot_off;   /* FlowSample._attrs */
static PyObject *s_attributes;

/* Masks of the last few frozensets, by identity (each one referenced, so an identity is never
 * reused while cached): the flow engine and BGP accounting each ask with their own set. */
#define MASK_SLOTS 4
static struct { PyObject *set; uint64_t bits[2]; } masks[MASK_SLOTS];
static int mask_next;

/* the mask of frozenset w into out: 0, or -1 with an error */
static int wanted_mask(PyObject *w, uint64_t *out)
{
    for (int i = 0; i < MASK_SLOTS; i++) {
        if (masks[i].set == w) {
            out[0] = masks[i].bits[0];
            out[1] = masks[i].bits[1];
            return 0;
        }
    }
    if (!PyFrozenSet_CheckExact(w)) {
        PyErr_SetString(PyExc_TypeError,
                        "flow_attributes_subset: wanted must be a frozenset or None");
        return -1;
    }
    uint64_t m[2] = {0, 0};
    for (int i = 0; i < NKEYS; i++) {
        int c = PySet_Contains(w, K[i]);
        if (c < 0)
            return -1;
        if (c)
            m[i >> 6] |= 1ull << (i & 63);
    }
    out[0] = m[0];
    out[1] = m[1];
    int slot = mask_next;
    mask_next = (mask_next + 1) % MASK_SLOTS;
    /* bits first: freeing the set it replaces can run Python code that asks with w (or
     * with others, which may take this slot again: hence the copy in out) */
    masks[slot].bits[0] = m[0];
    masks[slot].bits[1] = m[1];
    Py_INCREF(w);
    Py_XSETREF(masks[slot].set, w);
    return 0;
}

int acc_wanted_mask(PyObject *w, uint64_t *out)
{
    return wanted_mask(w, out);
}

static PyObject *restrict_dict(PyObject *full, PyObject *w)
{
    if (!PyDict_Check(full)) {
        PyErr_SetString(PyExc_TypeError, "attributes() did not return a dict");
        return NULL;
    }
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(full, &pos, &k, &v)) {
        Py_INCREF(k);
        Py_INCREF(v);
        int c = PySet_Contains(w, k);
        if (c > 0)
            c = PyDict_SetItem(d, k, v);
        Py_DECREF(k);
        Py_DECREF(v);
        if (c < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

static PyObject *m_flow_attributes_subset(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "_accel.setup() not called");
        return NULL;
    }
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "flow_attributes_subset(sample, wanted, shared=False)");
        return NULL;
    }
    PyObject *s = args[0], *w = args[1], *full = NULL;
    int shared = nargs == 3 ? PyObject_IsTrue(args[2]) : 0;
    if (shared < 0)
        return NULL;
    if (w == Py_None)
        return PyObject_CallMethodNoArgs(s, s_attributes);
    uint64_t mask[2];
    if (wanted_mask(w, mask) < 0)
        return NULL;
    if (Py_TYPE(s) != flow_type) {
        full = PyObject_CallMethodNoArgs(s, s_attributes);
    } else {
        PyObject **slot = (PyObject **)((char *)s + attrs_slot_off);
        if (*slot != NULL && *slot != Py_None) {
            if (shared)
                return Py_NewRef(*slot);    /* a reader may have the cached full dict */
            full = Py_NewRef(*slot);
        } else {
            attrs_t a;
            acc_attrs_init(&a, w, mask);
            int r = sample_attrs(s, &a);
            if (r == OK) {
                PyObject *d = a.dict ? Py_NewRef(a.dict) : acc_attrs_dict(&a);
                acc_attrs_clear(&a);
                return d;
            }
            acc_attrs_clear(&a);
            if (r < 0)
                PyErr_Clear();
            if (r == FULL) {
                acc_attrs_init(&a, NULL, NULL);
                if (sample_attrs(s, &a) == OK)
                    full = a.dict ? Py_NewRef(a.dict) : acc_attrs_dict(&a);
                acc_attrs_clear(&a);
                PyErr_Clear();
            }
            if (full == NULL)
                full = PyObject_CallOneArg(py_fallback, s);     /* its DecodeError propagates */
            if (full != NULL && (*slot == NULL || *slot == Py_None))
                Py_XSETREF(*slot, Py_NewRef(full));     /* as attributes() would cache it */
        }
    }
    if (full == NULL || shared)
        return full;
    PyObject *d = restrict_dict(full, w);
    Py_DECREF(full);
    return d;
}

static PyObject *m_fast_attributes(PyObject *self, PyObject *s)
{
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "_accel.setup() not called");
        return NULL;
    }
    return fast_attributes(s);
}

static PyObject *m_clear_caches(PyObject *self, PyObject *unused)
{
    clear_caches();
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ setup */

static int slot_offsets(PyObject *type, const char **names, Py_ssize_t *offs, int n);

static int table(PyObject *cfg, const char *name, PyObject **dst, Py_ssize_t n)
{
    PyObject *t = PyDict_GetItemString(cfg, name);
    if (t == NULL || !PyTuple_Check(t) || PyTuple_GET_SIZE(t) != n) {
        PyErr_Format(PyExc_ValueError, "setup: %s must be a tuple of %zd strings", name, n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyTuple_GET_ITEM(t, i);
        if (!PyUnicode_CheckExact(v)) {
            PyErr_Format(PyExc_ValueError, "setup: %s[%zd] is not a string", name, i);
            return -1;
        }
        Py_INCREF(v);
        Py_XSETREF(dst[i], v);
    }
    return 0;
}

static int object(PyObject *cfg, const char *name, PyObject **dst)
{
    PyObject *v = PyDict_GetItemString(cfg, name);
    if (v == NULL) {
        PyErr_Format(PyExc_ValueError, "setup: %s missing", name);
        return -1;
    }
    Py_INCREF(v);
    Py_XSETREF(*dst, v);
    return 0;
}

/* setup(cfg): cfg holds fallback, flow_type, handlers, dns_types and the string tables. The
 * FlowSample slots are located through their member descriptors, so reading a sample costs
 * one pointer load per field. */
static PyObject *m_setup(PyObject *self, PyObject *cfg)
{
    configured = 0;
    if (!PyDict_Check(cfg)) {
        PyErr_SetString(PyExc_TypeError, "setup: expected a dict");
        return NULL;
    }
    PyObject *ft = NULL;
    if (object(cfg, "fallback", &py_fallback) < 0 || object(cfg, "handlers", &handlers) < 0 ||
        object(cfg, "dns_types", &dns_types) < 0 ||
        object(cfg, "write_only", &write_only_tags) < 0 || object(cfg, "flow_type", &ft) < 0)
        return NULL;
    if (!PyDict_Check(handlers) || !PyDict_Check(dns_types) || !PyType_Check(ft) ||
        !PyFrozenSet_CheckExact(write_only_tags) || !PyCallable_Check(py_fallback)) {
        Py_DECREF(ft);
        PyErr_SetString(PyExc_TypeError, "setup: bad argument types");
        return NULL;
    }
    Py_XSETREF(flow_type, (PyTypeObject *)ft);
    for (int i = 0; i < NFIELDS; i++) {
        PyObject *d = PyObject_GetAttrString(ft, field_names[i]);
        if (d == NULL)
            return NULL;
        int okd = Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                  ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
        if (okd)
            field_off[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!okd) {
            PyErr_Format(PyExc_TypeError, "setup: %s is not a __slots__ member", field_names[i]);
            return NULL;
        }
    }
    static const char *attrs_name[1] = {"_attrs"};
    if (slot_offsets(ft, attrs_name, &attrs_slot_off, 1) < 0)
        return NULL;
    if (table(cfg, "tcp_flags", tcp_flags, 512) < 0 || table(cfg, "bin8", bin8, 256) < 0 ||
        table(cfg, "bin2", bin2, 4) < 0 || table(cfg, "bin3", bin3, 8) < 0 ||
        table(cfg, "dscp_names", dscp_names, 64) < 0)
        return NULL;
    configured = 1;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ datagram walk */
/* decode_datagram(buf) for the common case: a bytes v5 datagram whose samples are compact or
 * expanded flow samples (built here) or anything datagram._sample decodes (called for those).
 * Anything unusual (other versions, non-bytes buffers, a length or count the Python walker
 * rejects) is handed to the Python walker, which decodes it or raises its DecodeError. */

static PyObject *py_decode;         /* datagram.python_decode_datagram */
static PyObject *py_sample;         /* datagram._sample(buf, tag, off, end) */
static PyObject *py_agent;          /* datagram._agent(family, raw) */
static PyObject *agents;            /* datagram._AGENTS */
static PyObject *af_inet, *af_inet6;
static PyTypeObject *dgram_type;    /* datagram.Datagram */
static PyObject *tag01, *tag03, *five, *s_agent;
PyObject *acc_decode_error;         /* engine.sflow.DecodeError */
#define decode_error acc_decode_error
static int walk_configured;

enum { W_AGENT, W_TAG, W_SEQ, W_DATA_SOURCE, W_SAMPLE_POOL, W_DROPS, W_RECORDS, W_ATTRS, NWFIELDS };
static const char *wfield_names[NWFIELDS] = {"agent", "tag", "seq", "data_source", "sample_pool",
                                             "drops", "_records", "_attrs"};
static Py_ssize_t wfield_off[NWFIELDS];
enum { D_VERSION, D_AGENT, D_SUB_AGENT, D_SEQ, D_UPTIME, D_SAMPLES, NDFIELDS };
static const char *dfield_names[NDFIELDS] = {"version", "agent", "sub_agent", "seq", "uptime",
                                             "samples"};
static Py_ssize_t dfield_off[NDFIELDS];


static PyObject *data_source(uint32_t cls, uint32_t idx)
{
    uint64_t k = ((uint64_t)cls << 32) | idx;
    unsigned i = (unsigned)((k * 0x9E3779B97F4A7C15ull) >> 54) & (DS_SLOTS - 1);
    if (ds_cache[i].s && ds_cache[i].k == k) {
        Py_INCREF(ds_cache[i].s);
        return ds_cache[i].s;
    }
    char buf[32];
    int n = cls == 0 ? snprintf(buf, sizeof buf, "%u", idx)
                     : snprintf(buf, sizeof buf, "%u.%u", cls, idx);
    PyObject *s = PyUnicode_FromStringAndSize(buf, n);
    if (!s)
        return NULL;
    Py_XSETREF(ds_cache[i].s, s);
    Py_INCREF(s);
    ds_cache[i].k = k;
    return s;
}

/* store a new reference into a __slots__ member of a fresh object */
static inline int set_slot(PyObject *o, Py_ssize_t off, PyObject *v)
{
    if (v == NULL)
        return -1;
    Py_XSETREF(*(PyObject **)((char *)o + off), v);
    return 0;
}

static inline int set_u32(PyObject *o, Py_ssize_t off, uint32_t v)
{
    return set_slot(o, off, PyLong_FromUnsignedLong(v));
}

static inline int set_borrowed(PyObject *o, Py_ssize_t off, PyObject *v)
{
    Py_INCREF(v);
    return set_slot(o, off, v);
}

/* A FlowSample from the header fields; NULL on error. */
static PyObject *flow_sample(PyObject *bufobj, PyObject *agent, PyObject *tag, uint32_t seq,
                             uint32_t cls, uint32_t idx, uint32_t rate, uint32_t pool,
                             uint32_t drops, uint32_t in_fmt, uint32_t in, uint32_t out_fmt,
                             uint32_t out, Py_ssize_t rec, Py_ssize_t end, uint32_t nrec)
{
    PyObject *o = flow_type->tp_alloc(flow_type, 0);
    if (o == NULL)
        return NULL;
    if (set_borrowed(o, wfield_off[W_AGENT], agent) < 0 ||
        set_borrowed(o, wfield_off[W_TAG], tag) < 0 ||
        set_u32(o, wfield_off[W_SEQ], seq) < 0 ||
        set_u32(o, field_off[F_DS_CLASS], cls) < 0 ||
        set_u32(o, field_off[F_DS_INDEX], idx) < 0 ||
        set_slot(o, wfield_off[W_DATA_SOURCE], data_source(cls, idx)) < 0 ||
        set_u32(o, field_off[F_INPUT_FORMAT], in_fmt) < 0 ||
        set_u32(o, field_off[F_INPUT], in) < 0 ||
        set_u32(o, field_off[F_OUTPUT_FORMAT], out_fmt) < 0 ||
        set_u32(o, field_off[F_OUTPUT], out) < 0 ||
        set_u32(o, field_off[F_SAMPLING_RATE], rate) < 0 ||
        set_u32(o, wfield_off[W_SAMPLE_POOL], pool) < 0 ||
        set_u32(o, wfield_off[W_DROPS], drops) < 0 ||
        set_borrowed(o, field_off[F_BUF], bufobj) < 0 ||
        set_slot(o, field_off[F_REC_OFF], PyLong_FromSsize_t(rec)) < 0 ||
        set_slot(o, field_off[F_REC_END], PyLong_FromSsize_t(end)) < 0 ||
        set_u32(o, field_off[F_NREC], nrec) < 0 ||
        set_borrowed(o, wfield_off[W_RECORDS], Py_None) < 0 ||
        set_borrowed(o, wfield_off[W_ATTRS], Py_None) < 0) {
        Py_DECREF(o);
        return NULL;
    }
    return o;
}

/* Agent address strings by address (caches above): few agents send many datagrams, or many
 * agents each many. Two ways per set, the newer string taking the place of the one that was
 * not just found, so that thousands of agents rarely share a place (each miss is a string made
 * and a dict lookup by value rather than by identity). */

PyObject *acc_agent_str(const unsigned char *raw, int v6)
{
    if (!v6) {
        uint32_t v = rd32(raw);
        unsigned i = ((v * 2654435761u) >> 15) & (AGENT4_SLOTS - 2);
        for (unsigned w = i; w < i + 2; w++)
            if (agent4_cache[w].s && agent4_cache[w].k == v)
                return Py_NewRef(agent4_cache[w].s);
        PyObject *s = ip4_str(raw);      /* the text socket.inet_ntop gives */
        if (s == NULL)
            return NULL;
        /* the first way keeps the newest: the older one moves to the second */
        Py_XSETREF(agent4_cache[i + 1].s, agent4_cache[i].s);
        agent4_cache[i + 1].k = agent4_cache[i].k;
        agent4_cache[i].s = Py_NewRef(s);
        agent4_cache[i].k = v;
        return s;
    }
    uint32_t h = rd32(raw) ^ rd32(raw + 4) * 31u ^ rd32(raw + 8) * 131u ^ rd32(raw + 12) * 2654435761u;
    unsigned i = (h ^ (h >> 15)) & (AGENT6_SLOTS - 2);
    for (unsigned w = i; w < i + 2; w++)
        if (agent6_cache[w].s && memcmp(agent6_cache[w].k, raw, 16) == 0)
            return Py_NewRef(agent6_cache[w].s);
    PyObject *s = ip6_str(raw);
    if (s == NULL)
        return NULL;
    Py_XSETREF(agent6_cache[i + 1].s, agent6_cache[i].s);
    memcpy(agent6_cache[i + 1].k, agent6_cache[i].k, 16);
    agent6_cache[i].s = Py_NewRef(s);
    memcpy(agent6_cache[i].k, raw, 16);
    return s;
}

PyObject *acc_data_source(uint32_t cls, uint32_t idx)
{
    return data_source(cls, idx);
}

PyObject *acc_flow_sample(PyObject *bufobj, PyObject *agent, int tag, uint32_t seq,
                          uint32_t cls, uint32_t idx, uint32_t rate, uint32_t pool,
                          uint32_t drops, uint32_t in_fmt, uint32_t in, uint32_t out_fmt,
                          uint32_t out, Py_ssize_t rec, Py_ssize_t end, uint32_t nrec)
{
    return flow_sample(bufobj, agent, tag == 3 ? tag03 : tag01, seq, cls, idx, rate, pool, drops,
                       in_fmt, in, out_fmt, out, rec, end, nrec);
}

PyObject *acc_py_sample(PyObject *bufobj, uint32_t tag, Py_ssize_t off, Py_ssize_t end)
{
    return PyObject_CallFunction(py_sample, "OInn", bufobj, tag, off, end);
}

int acc_walk_ready(void)
{
    return configured && walk_configured;
}

/* OK with *result set, FALLBACK, or -1 (error set) */
static int walk(PyObject *bufobj, PyObject **result)
{
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(bufobj);
    Py_ssize_t n = PyBytes_GET_SIZE(bufobj), off;
    if (n < 28 || rd32(b) != 5)
        return FALLBACK;
    uint32_t at = rd32(b + 4);
    Py_ssize_t alen;
    if (at == 1) {
        alen = 4;
    } else if (at == 2) {
        alen = 16;
    } else {
        return FALLBACK;
    }
    off = 8 + alen;
    if (off + 16 > n)
        return FALLBACK;
    uint32_t sub_agent = rd32(b + off), seq = rd32(b + off + 4), uptime = rd32(b + off + 8),
             nsamples = rd32(b + off + 12);
    if (nsamples > SFLOW_MAX_SAMPLES)
        return FALLBACK;
    /* framing first, so that a datagram the Python walker rejects goes to it before any
     * sample decoder runs here (they count unknown sample types) */
    Py_ssize_t o = off + 16;
    for (uint32_t k = 0; k < nsamples; k++) {
        if (o + 8 > n)
            return FALLBACK;
        uint32_t tag = rd32(b + o), length = rd32(b + o + 4);
        o += 8;
        if (o + (Py_ssize_t)length > n || (length & 3) ||
            (tag == 1 && (length < SFLOW_FLOW_SAMPLE_SIZE || rd32(b + o + SFLOW_FLOW_SAMPLE_NREC) > SFLOW_MAX_RECORDS)) ||
            (tag == 3 && (length < SFLOW_FLOW_SAMPLE_EXPANDED_SIZE || rd32(b + o + SFLOW_FLOW_SAMPLE_EXPANDED_NREC) > SFLOW_MAX_RECORDS)))
            return FALLBACK;
        o += length;
    }
    PyObject *agent = acc_agent_str(b + 8, alen == 16);
    if (agent == NULL)
        return -1;
    off += 16;
    int r = -1;
    PyObject *samples = PyList_New(0), *d = NULL;
    if (samples == NULL)
        goto done;
    for (uint32_t k = 0; k < nsamples; k++) {
        if (off + 8 > n) {
            r = FALLBACK;
            goto done;
        }
        uint32_t tag = rd32(b + off), length = rd32(b + off + 4);
        off += 8;
        Py_ssize_t end = off + (Py_ssize_t)length;
        if (end > n || (length & 3)) {
            r = FALLBACK;
            goto done;
        }
        const unsigned char *p = b + off;
        PyObject *s = NULL;
        if (tag == 1 && length >= SFLOW_FLOW_SAMPLE_SIZE) {
            uint32_t src = rd32(p + 4), inp = rd32(p + 20), out = rd32(p + 24),
                     nrec = rd32(p + SFLOW_FLOW_SAMPLE_NREC);
            if (nrec > SFLOW_MAX_RECORDS) {
                r = FALLBACK;
                goto done;
            }
            s = flow_sample(bufobj, agent, tag01, rd32(p), src >> 24, src & 0xFFFFFF, rd32(p + 8),
                            rd32(p + 12), rd32(p + 16), inp >> 30, inp & 0x3FFFFFFF, out >> 30,
                            out & 0x3FFFFFFF, off + SFLOW_FLOW_SAMPLE_SIZE, end, nrec);
        } else if (tag == 3 && length >= SFLOW_FLOW_SAMPLE_EXPANDED_SIZE) {
            uint32_t nrec = rd32(p + SFLOW_FLOW_SAMPLE_EXPANDED_NREC);
            if (nrec > SFLOW_MAX_RECORDS) {
                r = FALLBACK;
                goto done;
            }
            s = flow_sample(bufobj, agent, tag03, rd32(p), rd32(p + 4), rd32(p + 8), rd32(p + 12),
                            rd32(p + 16), rd32(p + 20), rd32(p + 24), rd32(p + 28), rd32(p + 32),
                            rd32(p + 36), off + SFLOW_FLOW_SAMPLE_EXPANDED_SIZE, end, nrec);
        } else {
            s = PyObject_CallFunction(py_sample, "OInn", bufobj, tag, off, end);
            if (s == NULL) {
                /* the Python walker would raise this DecodeError at this point too; anything
                 * else (struct.error) it rewords: let it */
                if (!PyErr_ExceptionMatches(decode_error)) {
                    PyErr_Clear();
                    r = FALLBACK;
                }
                goto done;
            }
            if (s == Py_None) {
                Py_DECREF(s);
                s = NULL;
                off = end;
                continue;
            }
            if (PyObject_SetAttr(s, s_agent, agent) < 0) {
                Py_DECREF(s);
                goto done;
            }
        }
        if (s == NULL)
            goto done;
        int e = PyList_Append(samples, s);
        Py_DECREF(s);
        if (e < 0)
            goto done;
        off = end;
    }
    d = dgram_type->tp_alloc(dgram_type, 0);
    if (d == NULL)
        goto done;
    if (set_borrowed(d, dfield_off[D_VERSION], five) < 0 ||
        set_borrowed(d, dfield_off[D_AGENT], agent) < 0 ||
        set_u32(d, dfield_off[D_SUB_AGENT], sub_agent) < 0 ||
        set_u32(d, dfield_off[D_SEQ], seq) < 0 ||
        set_u32(d, dfield_off[D_UPTIME], uptime) < 0 ||
        set_borrowed(d, dfield_off[D_SAMPLES], samples) < 0) {
        Py_CLEAR(d);
        goto done;
    }
    *result = d;
    r = OK;
done:
    Py_XDECREF(samples);
    Py_DECREF(agent);
    return r;
}

static PyObject *m_decode_datagram(PyObject *self, PyObject *buf)
{
    if (!walk_configured) {
        PyErr_SetString(PyExc_RuntimeError, "_accel.setup_walk() not called");
        return NULL;
    }
    if (PyBytes_CheckExact(buf)) {
        PyObject *d = NULL;
        int r = walk(buf, &d);
        if (r == OK)
            return d;
        if (r < 0) {
            if (PyErr_ExceptionMatches(decode_error))
                return NULL;
            PyErr_Clear();
        }
    }
    return PyObject_CallOneArg(py_decode, buf);
}

/* ------------------------------------------------------------------ agent bookkeeping */
/* track_samples(samples, flow_seqs, flow_counts, counter_seqs, counter_counts,
 * notification_seqs, notification_counts) -> index: AgentStats.samples_seen's loop (see
 * engine/agents.py, which keeps the Python version and the rules): per kind ("flow", "counter",
 * "discard" as notification; other kinds skipped) the sample count, drops and the lost,
 * duplicate and out-of-order counts from each data source's sequence numbers. Counts are
 * [samples, lost, duplicates, out_of_order, drops] lists. It stops at a sample whose fields
 * are not what the decoder makes (returning its index, counts so far committed) so that the
 * Python loop can finish the list. */

static PyObject *s_kind, *s_data_source, *s_seq, *s_drops, *s_flow, *s_counter, *s_discard_kind;

enum { T_SAMPLES, T_LOST, T_DUP, T_OOO, T_DROPS, NT };

static int commit_counts(PyObject *list, const unsigned long long *delta)
{
    if (PyList_GET_SIZE(list) < NT) {  /* shortened by Python code a sample's attribute ran */
        PyErr_SetString(PyExc_TypeError, "track_samples: counts lists of 5");
        return -1;
    }
    for (int i = 0; i < NT; i++) {
        if (delta[i] == 0)
            continue;
        PyObject *d = PyLong_FromUnsignedLongLong(delta[i]);
        if (d == NULL)
            return -1;
        PyObject *old = Py_NewRef(PyList_GET_ITEM(list, i));   /* __add__ may change the list */
        PyObject *v = PyNumber_Add(old, d);
        Py_DECREF(old);
        Py_DECREF(d);
        if (v == NULL)
            return -1;
        if (PyList_SetItem(list, i, v) < 0)     /* steals v, releases the old count */
            return -1;                          /* (__add__ shortened the list) */
    }
    return 0;
}

/* a sample's field: the slot of a walker-built FlowSample, else the attribute (new ref) */
static PyObject *sample_field(PyObject *s, int fast, int w, PyObject *name)
{
    if (fast) {
        PyObject *v = *(PyObject **)((char *)s + wfield_off[w]);
        if (v != NULL) {
            Py_INCREF(v);
            return v;
        }
    }
    return PyObject_GetAttr(s, name);
}

/* One sample into delta[kind]: 0, 1 (fields not as the decoder makes them; nothing counted)
 * or -1 (error set). */
static int track_one(PyObject *s, PyObject **seqs, unsigned long long (*delta)[NT])
{
    int fast = walk_configured && Py_TYPE(s) == flow_type, k = 0;
    if (!fast) {
        PyObject *kind = PyObject_GetAttr(s, s_kind);
        if (kind == NULL || !PyUnicode_CheckExact(kind)) {   /* a subclass's __eq__: Python */
            Py_XDECREF(kind);
            PyErr_Clear();
            return 1;
        }
        k = PyUnicode_Compare(kind, s_flow) == 0 ? 0 : PyUnicode_Compare(kind, s_counter) == 0 ? 1
            : PyUnicode_Compare(kind, s_discard_kind) == 0 ? 2 : -1;
        Py_DECREF(kind);
        if (k < 0)
            return 0;       /* a kind that is not tracked */
    }
    unsigned long long seq, drops = 0, last = 0;
    PyObject *seqo = sample_field(s, fast, W_SEQ, s_seq), *dso = NULL, *d = NULL, *lasto;
    int r = 1;
    if (get_u64(seqo, &seq) < 0)
        goto done;
    if (k != 1) {
        d = sample_field(s, fast, W_DROPS, s_drops);
        if (get_u64(d, &drops) < 0)
            goto done;
    }
    dso = sample_field(s, fast, W_DATA_SOURCE, s_data_source);
    if (dso == NULL || !PyUnicode_CheckExact(dso))
        goto done;
    lasto = PyDict_GetItemWithError(seqs[k], dso);      /* borrowed */
    if (lasto == NULL && PyErr_Occurred()) {
        r = -1;
        goto done;
    }
    if (lasto != NULL && get_u64(lasto, &last) < 0)
        goto done;
    unsigned long long *dk = delta[k], sum;
    if (__builtin_add_overflow(dk[T_DROPS], drops, &sum) ||
        (lasto != NULL && seq > last && __builtin_add_overflow(dk[T_LOST], seq - last - 1, &sum)))
        goto done;      /* totals beyond 64 bits: Python's ints */
    dk[T_SAMPLES]++;
    dk[T_DROPS] += drops;
    r = 0;
    if (lasto != NULL && seq != last + 1) {
        if (seq == last) {
            dk[T_DUP]++;
        } else if (seq > last) {
            dk[T_LOST] += seq - last - 1;
        } else if (last - seq < 1000 && seq > 5) {
            dk[T_OOO]++;
            goto done;      /* an old sample: the last sequence number stays */
        }
    }
    if (PyDict_SetItem(seqs[k], dso, seqo) < 0)
        r = -1;
done:
    if (r == 1)
        PyErr_Clear();
    Py_XDECREF(seqo);
    Py_XDECREF(d);
    Py_XDECREF(dso);
    return r;
}

static PyObject *m_track_samples(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "track_samples(samples list, then seqs dict and counts "
                                         "list for flow, counter and notification)");
        return NULL;
    }
    PyObject *seqs[3], *counts[3];
    for (int k = 0; k < 3; k++) {
        seqs[k] = args[1 + 2 * k];
        counts[k] = args[2 + 2 * k];
        if (!PyDict_Check(seqs[k]) || !PyList_Check(counts[k]) || PyList_GET_SIZE(counts[k]) < NT) {
            PyErr_SetString(PyExc_TypeError,
                            "track_samples: seqs must be dicts, counts lists of 5");
            return NULL;
        }
    }
    PyObject *samples = args[0];
    unsigned long long delta[3][NT];
    memset(delta, 0, sizeof delta);
    Py_ssize_t i;
    int r = 0;      /* 0 go on, 1 stop here (Python goes on from i), -1 error */
    for (i = 0; r == 0 && i < PyList_GET_SIZE(samples); i++) {
        PyObject *s = Py_NewRef(PyList_GET_ITEM(samples, i));
        r = track_one(s, seqs, delta);
        Py_DECREF(s);
    }
    if (r == 1)
        i--;        /* the sample it stopped at */
    /* the samples before an error count (their sequence numbers are stored), with the error
     * put aside: no Python code runs while one is pending, and it is what propagates */
    PyObject *et = NULL, *ev = NULL, *etb = NULL;
    if (r < 0)
        PyErr_Fetch(&et, &ev, &etb);
    for (int k = 0; k < 3; k++) {
        if (commit_counts(counts[k], delta[k]) < 0) {
            r = -1;
            if (et == NULL)
                break;
            PyErr_Clear();
        }
    }
    if (et != NULL)
        PyErr_Restore(et, ev, etb);
    return r < 0 ? NULL : PyLong_FromSsize_t(i);
}

static int slot_offsets(PyObject *type, const char **names, Py_ssize_t *offs, int n)
{
    for (int i = 0; i < n; i++) {
        PyObject *d = PyObject_GetAttrString(type, names[i]);
        if (d == NULL)
            return -1;
        int okd = Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                  ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
        if (okd)
            offs[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!okd) {
            PyErr_Format(PyExc_TypeError, "setup: %s is not a __slots__ member", names[i]);
            return -1;
        }
    }
    return 0;
}

/* setup_walk(cfg): after setup(); cfg holds decode, sample, agent, agents, af_inet, af_inet6,
 * datagram_type and tag_names (datagram._TAG_NAMES). */
static PyObject *m_setup_walk(PyObject *self, PyObject *cfg)
{
    walk_configured = 0;
    if (!configured || !PyDict_Check(cfg)) {
        PyErr_SetString(PyExc_TypeError, "setup_walk: call setup() first, with a dict");
        return NULL;
    }
    PyObject *dt = NULL, *names = NULL;
    if (object(cfg, "decode", &py_decode) < 0 || object(cfg, "sample", &py_sample) < 0 ||
        object(cfg, "agent", &py_agent) < 0 || object(cfg, "agents", &agents) < 0 ||
        object(cfg, "af_inet", &af_inet) < 0 || object(cfg, "af_inet6", &af_inet6) < 0 ||
        object(cfg, "decode_error", &decode_error) < 0 || object(cfg, "datagram_type", &dt) < 0)
        return NULL;
    if (object(cfg, "tag_names", &names) < 0) {
        Py_DECREF(dt);
        return NULL;
    }
    int bad = !PyDict_Check(agents) || !PyType_Check(dt) || !PyTuple_Check(names) ||
              PyTuple_GET_SIZE(names) < 4 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(names, 1)) ||
              !PyUnicode_CheckExact(PyTuple_GET_ITEM(names, 3));
    if (!bad) {
        Py_XSETREF(tag01, Py_NewRef(PyTuple_GET_ITEM(names, 1)));
        Py_XSETREF(tag03, Py_NewRef(PyTuple_GET_ITEM(names, 3)));
    }
    Py_DECREF(names);
    if (bad) {
        Py_DECREF(dt);
        PyErr_SetString(PyExc_TypeError, "setup_walk: bad argument types");
        return NULL;
    }
    Py_XSETREF(dgram_type, (PyTypeObject *)dt);
    if (slot_offsets((PyObject *)flow_type, wfield_names, wfield_off, NWFIELDS) < 0 ||
        slot_offsets(dt, dfield_names, dfield_off, NDFIELDS) < 0)
        return NULL;
    walk_configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", m_setup, METH_O, "setup(config dict): tables, fallback and FlowSample type"},
    {"flow_attributes", m_flow_attributes, METH_O,
     "flow_attributes(sample) -> dict, the same as attributes.python_flow_attributes(sample)"},
    {"fast_attributes", m_fast_attributes, METH_O,
     "fast_attributes(sample) -> dict, or None where the Python path is needed"},
    {"flow_attributes_subset", (PyCFunction)(void (*)(void))m_flow_attributes_subset, METH_FASTCALL,
     "flow_attributes_subset(sample, wanted frozenset or None, shared=False) -> dict, the same\n"
     "as attributes.python_flow_attributes_subset(sample, wanted, shared)"},
    {"clear_caches", m_clear_caches, METH_NOARGS, "empty the address/MAC string caches"},
    {"track_samples", (PyCFunction)(void (*)(void))m_track_samples, METH_FASTCALL,
     "track_samples(samples, flow_seqs, flow_counts, counter_seqs, counter_counts,\n"
     "notification_seqs, notification_counts) -> index where the Python loop goes on"},
    {"setup_walk", m_setup_walk, METH_O, "setup_walk(config dict): the datagram walker's hooks"},
    {"decode_datagram", m_decode_datagram, METH_O,
     "decode_datagram(buf) -> Datagram, the same as datagram.python_decode_datagram(buf)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_accel",
                                       "C fast path for sFlow flow-sample attributes", -1, methods,
                                       NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__accel(void)
{
    if ((key_index = PyDict_New()) == NULL)
        return NULL;
    for (int i = 0; i < NKEYS; i++) {
        if ((K[i] = PyUnicode_InternFromString(key_names[i])) == NULL)
            return NULL;
        PyObject *id = PyLong_FromLong(i);
        int e = id == NULL ? -1 : PyDict_SetItem(key_index, K[i], id);
        Py_XDECREF(id);
        if (e < 0)
            return NULL;
    }
    if (!(s_true = PyUnicode_InternFromString("true")) ||
        !(s_false = PyUnicode_InternFromString("false")) ||
        !(s_internal = PyUnicode_InternFromString("internal")) ||
        !(s_unknown = PyUnicode_InternFromString("unknown")) ||
        !(s_discard = PyUnicode_InternFromString("discard")) ||
        !(s_multiple = PyUnicode_InternFromString("multiple")) ||
        !(s_ingress = PyUnicode_InternFromString("ingress")) ||
        !(s_egress = PyUnicode_InternFromString("egress")) || !(one = PyLong_FromLong(1)) ||
        !(five = PyLong_FromLong(5)) || !(s_agent = PyUnicode_InternFromString("agent")) ||
        !(s_attributes = PyUnicode_InternFromString("attributes")) ||
        !(s_kind = PyUnicode_InternFromString("kind")) ||
        !(s_data_source = PyUnicode_InternFromString("data_source")) ||
        !(s_seq = PyUnicode_InternFromString("seq")) ||
        !(s_drops = PyUnicode_InternFromString("drops")) ||
        !(s_flow = PyUnicode_InternFromString("flow")) ||
        !(s_counter = PyUnicode_InternFromString("counter")) ||
        !(s_discard_kind = PyUnicode_InternFromString("discard")))
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    PyObject *ids = PyDict_Copy(key_index);     /* the attribute numbers of decoder views */
    int bad_ids = ids == NULL || PyModule_AddObjectRef(m, "KEY_IDS", ids) < 0;
    Py_XDECREF(ids);
    if (bad_ids || acc_agents_init(m) < 0 || acc_ingest_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
