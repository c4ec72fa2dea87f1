/* Declarations shared by the parts of the engine.sflow._accel extension:
 *   _accel.c   flow-sample attributes, the datagram walker, module set-up;
 *   _agents.c  AgentRecord, the per-agent bookkeeping behind /agents/json;
 *   _ingest.c  the batch ingest (datagrams -> agents -> flow pipeline / Python handlers).
 * Internal to the extension; nothing here is a stable API. */
#ifndef FLOWRT_ACCEL_H
#define FLOWRT_ACCEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include "_layouts.h"     /* generated: sample layouts and limits (errors.py, sample_layouts.py) */

/* attribute keys the C decoder produces; acc_K[k] is the interned name */
enum {
    K_bytes, K_stripped, K_frames, K_inputifindex, K_outputifindex, K_direction, K_samplingrate,
    K_stack, K_macdestination, K_macsource, K_isbroadcast, K_ismulticast, K_isunicast,
    K_ethernetprotocol, K_vlan, K_priority,
    K_ipsource, K_ipdestination, K_ipprotocol, K_iptos, K_ipdscp, K_ipdscpname, K_ipecn, K_ipttl,
    K_ipflags, K_ipfragoffset, K_ipbytes, K_ipid, K_ip_offset,
    K_ip6source, K_ip6destination, K_ip6nexthdr, K_ip6tos, K_ip6dscp, K_ip6dscpname, K_ip6ecn,
    K_ip6flowlabel, K_ip6ttl, K_ip6bytes, K_ip6_offset,
    K_tcpsourceport, K_tcpdestinationport, K_tcpflags, K_udpsourceport, K_udpdestinationport,
    K_udpbytes, K_icmptype, K_icmpcode, K_icmpseqno, K_icmpunreachablenet, K_icmpunreachablehost,
    K_icmpunreachableprotocol, K_icmpunreachableport, K_icmp6type, K_icmp6code,
    K_dnsqr, K_dnsrcode, K_dnsqname, K_dnsqtype, K_dnsqtypename,
    K_vlansource, K_prioritysource, K_vlandestination, K_prioritydestination,
    K_ipnexthoprouter, K_ipsourcemaskbits, K_ipdestinationmaskbits,
    NKEYS
};
extern PyObject *acc_K[NKEYS];

/* Decoding outcome: OK, or FALLBACK (let Python decide; any Python error is cleared), or for a
 * subset FULL (decode the full dict and take the subset from it). -1: a Python error. */
#define OK 0
#define FALLBACK 1
#define FULL 2

/* The keys of one sample are collected in insertion order in a small array, then turned into
 * a dict by copying a cached dict with exactly those keys (one memcpy-like clone, no probing
 * for empty slots, no resizing) and replacing its values. A Python record handler needs a
 * real dict: the array becomes one at that point and later keys go straight into it. */
typedef struct {
    PyObject *dict;                 /* set once a real dict exists */
    int n;
    unsigned char key[NKEYS];       /* key ids in insertion order */
    PyObject *val[NKEYS];           /* owned */
    signed char pos[NKEYS];         /* index into key/val, -1 if not set yet */
    /* Subsets (flow_attributes_subset): only keys whose bit is set in `mask` get a value
     * (NULL wset: every key); `seen` records every key the sample has, wanted or not, so
     * that decisions depending on an earlier key do not depend on what was asked for. */
    PyObject *wset;                 /* the wanted frozenset (borrowed), NULL for all keys */
    uint64_t mask[2], seen[2];
} attrs_t;

#if NKEYS > 128
#error "attrs_t.mask holds 128 keys"
#endif

void acc_attrs_init(attrs_t *a, PyObject *wset, const uint64_t *mask);
void acc_attrs_clear(attrs_t *a);
PyObject *acc_attrs_dict(attrs_t *a);        /* a new dict of the array's keys and values */
int acc_attrs_materialize(attrs_t *a);       /* switch to a real dict; 0 or -1 */
int acc_wanted_mask(PyObject *w, uint64_t *out);

/* What the attribute decoder reads of a flow sample: the fields FlowSample's slots hold. The
 * objects are borrowed and may be NULL (built from the numbers when needed). */
typedef struct {
    PyObject *bufobj;               /* the datagram (bytes): Python record handlers get it */
    const unsigned char *buf;
    Py_ssize_t buflen;
    unsigned long long rec_off, rec_end, nrec;
    unsigned long long input, output, input_format, output_format, ds_class, ds_index;
    PyObject *input_obj, *output_obj, *rate_obj;
} sfields_t;

/* The attribute dict of a sample into `a`: OK, FALLBACK, FULL (subsets only) or -1. */
int acc_fields_attrs(const sfields_t *f, attrs_t *a);

PyObject *acc_uint(unsigned long v);             /* new reference; small values cached */
PyObject *acc_data_source(uint32_t cls, uint32_t idx);   /* new reference, cached */
/* the agent address string of a datagram (new reference; cached like the walker's) */
PyObject *acc_agent_str(const unsigned char *raw, int v6);
/* a FlowSample as the walker makes it; tag: 1 compact, 3 expanded */
PyObject *acc_flow_sample(PyObject *bufobj, PyObject *agent, int tag, uint32_t seq,
                          uint32_t cls, uint32_t idx, uint32_t rate, uint32_t pool,
                          uint32_t drops, uint32_t in_fmt, uint32_t in, uint32_t out_fmt,
                          uint32_t out, Py_ssize_t rec, Py_ssize_t end, uint32_t nrec);
/* datagram._sample(buf, tag, off, end): a non-flow sample object, Py_None to skip it, NULL on
 * error (a DecodeError is the Python walker's own) */
PyObject *acc_py_sample(PyObject *bufobj, uint32_t tag, Py_ssize_t off, Py_ssize_t end);
int acc_walk_ready(void);                         /* setup() and setup_walk() were called */
extern PyObject *acc_decode_error;                /* engine.sflow.DecodeError */
extern PyTypeObject *acc_flow_type;               /* datagram.FlowSample */

static inline uint32_t acc_rd16(const unsigned char *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static inline uint32_t acc_rd32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* _agents.c */
extern PyTypeObject AgentRecordType;
int acc_agents_init(PyObject *module);
typedef struct AgentRecord AgentRecord;
/* one datagram's header: AgentRecord.datagram() */
void acc_agent_datagram(AgentRecord *r, uint32_t sub_agent, uint32_t seq, uint32_t uptime,
                        double now);
int acc_agent_source(AgentRecord *r, PyObject *src);   /* sources.add(src): 0 or -1 */
/* one sample's sequence number: kind 0 flow, 1 counter, 2 notification (discard) */
int acc_agent_sample(AgentRecord *r, int kind, uint32_t ds_class, uint32_t ds_index,
                     uint32_t seq, uint32_t drops);
void acc_agent_decode_error(AgentRecord *r);
unsigned long long acc_agent_uptime(AgentRecord *r);
unsigned long long acc_agent_sub_agent(AgentRecord *r);

/* _ingest.c */
int acc_ingest_init(PyObject *module);

#endif
