/* AgentRecord: the per-agent bookkeeping behind /agents/json, in C (see engine/agents.py,
 * whose AgentStats is the pure-Python version and states the rules; tests/test_agents_table.py
 * holds the two to the same answers).
 *
 * Per datagram: count, last seen, uptime, source address, and the datagram sequence number
 * per sub-agent (lost, duplicate, out-of-order datagrams). Per sample: counts and drops per
 * kind (flow, counter, notification = discard), and the sample sequence number per data
 * source (lost, duplicate, out-of-order samples). Sequence numbers live in small C hash maps,
 * so the ingest path (_ingest.c) keeps them without a Python object per sample. */
#include "_accel.h"
#include <structmember.h>
#include <string.h>

/* ------------------------------------------------------------------ uint64 -> uint32 map */

typedef struct {
    uint64_t key;
    uint32_t val;
    uint32_t used;
} ment_t;

typedef struct {
    ment_t *t;
    uint32_t cap, n;    /* cap: 0 or a power of two */
} map_t;

static inline uint32_t slot_of(uint64_t key, uint32_t cap)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static int map_grow(map_t *m)
{
    uint32_t cap = m->cap ? m->cap * 2 : 8;
    ment_t *t = PyMem_Calloc(cap, sizeof(ment_t));
    if (t == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (uint32_t i = 0; i < m->cap; i++) {
        if (!m->t[i].used)
            continue;
        uint32_t j = slot_of(m->t[i].key, cap);
        while (t[j].used)
            j = (j + 1) & (cap - 1);
        t[j] = m->t[i];
    }
    PyMem_Free(m->t);
    m->t = t;
    m->cap = cap;
    return 0;
}

/* The entry of `key`, inserted (used, *fresh = 1) when absent; NULL with MemoryError. */
static ment_t *map_entry(map_t *m, uint64_t key, int *fresh)
{
    if ((m->n + 1) * 2 > m->cap && map_grow(m) < 0)
        return NULL;
    uint32_t j = slot_of(key, m->cap);
    while (m->t[j].used) {
        if (m->t[j].key == key) {
            *fresh = 0;
            return &m->t[j];
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->t[j].used = 1;
    m->t[j].key = key;
    m->n++;
    *fresh = 1;
    return &m->t[j];
}

static void map_free(map_t *m)
{
    PyMem_Free(m->t);
    m->t = NULL;
    m->cap = m->n = 0;
}

/* ------------------------------------------------------------------ the record */

enum { C_SAMPLES, C_LOST, C_DUP, C_OOO, C_DROPS, NC };

struct AgentRecord {
    PyObject_HEAD
    PyObject *agent;                /* address string */
    PyObject *sources;              /* set of UDP source addresses */
    double first_seen, last_seen;
    unsigned long long datagrams, lost, out_of_order, duplicates, decode_errors;
    unsigned long long uptime, sub_agent;      /* of the latest datagram */
    map_t sub_seq;                  /* sub-agent id -> last datagram sequence number */
    map_t ds_seq[3];                /* (class << 32 | index) -> last sample sequence number */
    unsigned long long counts[3][NC];
};

void acc_agent_datagram(AgentRecord *r, uint32_t sub_agent, uint32_t seq, uint32_t uptime,
                        double now)
{
    r->datagrams++;
    r->last_seen = now;
    r->uptime = uptime;
    r->sub_agent = sub_agent;
    int fresh;
    ment_t *e = map_entry(&r->sub_seq, sub_agent, &fresh);
    if (e == NULL) {
        PyErr_Clear();      /* out of memory for one sequence number: count nothing */
        return;
    }
    if (!fresh) {
        uint32_t last = e->val;
        if (seq == last) {
            r->duplicates++;
        } else if ((uint64_t)seq == (uint64_t)last + 1) {
        } else if (seq > last) {
            r->lost += seq - last - 1;
        } else if (seq < 5 || last - seq > 1000) {
            /* the agent restarted: its sequence numbers start again */
        } else {
            r->out_of_order++;
            return;
        }
    }
    e->val = seq;
}

int acc_agent_source(AgentRecord *r, PyObject *src)
{
    return PySet_Add(r->sources, src);
}

int acc_agent_sample(AgentRecord *r, int kind, uint32_t ds_class, uint32_t ds_index,
                     uint32_t seq, uint32_t drops)
{
    unsigned long long *c = r->counts[kind];
    c[C_SAMPLES]++;
    if (kind != 1)
        c[C_DROPS] += drops;
    int fresh;
    ment_t *e = map_entry(&r->ds_seq[kind], ((uint64_t)ds_class << 32) | ds_index, &fresh);
    if (e == NULL)
        return -1;
    if (!fresh && (uint64_t)seq != (uint64_t)e->val + 1) {
        uint32_t last = e->val;
        if (seq == last) {
            c[C_DUP]++;
        } else if (seq > last) {
            c[C_LOST] += seq - last - 1;
        } else if (last - seq < 1000 && seq > 5) {
            c[C_OOO]++;
            return 0;       /* an old sample: the last sequence number stays */
        }
    }
    e->val = seq;
    return 0;
}

void acc_agent_decode_error(AgentRecord *r)
{
    r->decode_errors++;
}

unsigned long long acc_agent_uptime(AgentRecord *r)
{
    return r->uptime;
}

unsigned long long acc_agent_sub_agent(AgentRecord *r)
{
    return r->sub_agent;
}

/* ------------------------------------------------------------------ Python methods */

static int u32_arg(PyObject *o, const char *what, uint32_t *out)
{
    unsigned long v = PyLong_Check(o) ? PyLong_AsUnsignedLong(o) : (unsigned long)-1;
    if ((v == (unsigned long)-1 && PyErr_Occurred()) || !PyLong_Check(o) || v > 0xFFFFFFFFul) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "AgentRecord: %s must be an int in 0..2**32-1", what);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static PyObject *rec_datagram(AgentRecord *r, PyObject *const *args, Py_ssize_t nargs)
{
    uint32_t sub, seq, up;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "datagram(sub_agent, seq, uptime, src, now)");
        return NULL;
    }
    double now = PyFloat_AsDouble(args[4]);
    if ((now == -1.0 && PyErr_Occurred()) || u32_arg(args[0], "sub_agent", &sub) < 0 ||
        u32_arg(args[1], "seq", &seq) < 0 || u32_arg(args[2], "uptime", &up) < 0)
        return NULL;
    if (PySet_Add(r->sources, args[3]) < 0)
        return NULL;
    acc_agent_datagram(r, sub, seq, up, now);
    Py_RETURN_NONE;
}

static PyObject *s_kind, *s_flow, *s_counter, *s_discard, *s_ds_class, *s_ds_index, *s_seq,
    *s_drops;

static int field_u32(PyObject *s, PyObject *name, uint32_t *out)
{
    PyObject *v = PyObject_GetAttr(s, name);
    if (v == NULL)
        return -1;
    int r = u32_arg(v, PyUnicode_AsUTF8(name), out);
    Py_DECREF(v);
    return r;
}

/* samples_seen(samples): each sample's kind, data source and sequence number (decoder samples:
 * kind, ds_class, ds_index, seq, drops); kinds other than flow, counter, discard are skipped */
static PyObject *rec_samples_seen(AgentRecord *r, PyObject *samples)
{
    PyObject *it = PyObject_GetIter(samples);
    if (it == NULL)
        return NULL;
    PyObject *s;
    while ((s = PyIter_Next(it)) != NULL) {
        PyObject *kind = PyObject_GetAttr(s, s_kind);
        int k = -1, rc = 0;
        if (kind == NULL) {
            rc = -1;
        } else if (PyUnicode_Check(kind)) {
            k = PyUnicode_Compare(kind, s_flow) == 0 ? 0
                : PyUnicode_Compare(kind, s_counter) == 0 ? 1
                : PyUnicode_Compare(kind, s_discard) == 0 ? 2 : -1;
        }
        Py_XDECREF(kind);
        uint32_t cls, idx, seq, drops = 0;
        if (rc == 0 && k >= 0) {
            if (field_u32(s, s_ds_class, &cls) < 0 || field_u32(s, s_ds_index, &idx) < 0 ||
                field_u32(s, s_seq, &seq) < 0 || (k != 1 && field_u32(s, s_drops, &drops) < 0) ||
                acc_agent_sample(r, k, cls, idx, seq, drops) < 0)
                rc = -1;
        }
        Py_DECREF(s);
        if (rc < 0) {
            Py_DECREF(it);
            return NULL;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *ms_since(double now, double then)
{
    /* int((now - then) * 1000) of the Python version: the same double operations */
    return PyLong_FromDouble((now - then) * 1000.0);
}

static int put_u(PyObject *d, const char *name, unsigned long long v)
{
    PyObject *o = PyLong_FromUnsignedLongLong(v);
    if (o == NULL)
        return -1;
    int r = PyDict_SetItemString(d, name, o);
    Py_DECREF(o);
    return r;
}

static int put_o(PyObject *d, const char *name, PyObject *o)   /* steals o */
{
    if (o == NULL)
        return -1;
    int r = PyDict_SetItemString(d, name, o);
    Py_DECREF(o);
    return r;
}

static PyObject *rec_to_json(AgentRecord *r, PyObject *arg)
{
    double now = PyFloat_AsDouble(arg);
    if (now == -1.0 && PyErr_Occurred())
        return NULL;
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    const unsigned long long *f = r->counts[0], *c = r->counts[1], *n = r->counts[2];
    PyObject *src = PySequence_List(r->sources);
    if (src != NULL && PyList_Sort(src) < 0)
        Py_CLEAR(src);
    if (put_u(d, "sFlowDatagramsLost", r->lost) < 0 ||
        put_o(d, "sFlowDatagramSource", src) < 0 ||
        put_u(d, "sFlowDatagramsReceived", r->datagrams) < 0 ||
        put_u(d, "sFlowDatagramsOutOfOrder", r->out_of_order) < 0 ||
        put_u(d, "sFlowDatagramsDuplicates", r->duplicates) < 0 ||
        put_u(d, "sFlowDecodeErrors", r->decode_errors) < 0 ||
        put_u(d, "sFlowFlowSamples", f[C_SAMPLES]) < 0 ||
        put_u(d, "sFlowFlowDrops", f[C_DROPS]) < 0 ||
        put_u(d, "sFlowFlowLostSamples", f[C_LOST]) < 0 ||
        put_u(d, "sFlowFlowDuplicateSamples", f[C_DUP]) < 0 ||
        put_u(d, "sFlowFlowOutOfOrderSamples", f[C_OOO]) < 0 ||
        put_u(d, "sFlowFlowDatasources", r->ds_seq[0].n) < 0 ||
        put_u(d, "sFlowCounterSamples", c[C_SAMPLES]) < 0 ||
        put_u(d, "sFlowCounterLostSamples", c[C_LOST]) < 0 ||
        put_u(d, "sFlowCounterDuplicateSamples", c[C_DUP]) < 0 ||
        put_u(d, "sFlowCounterOutOfOrderSamples", c[C_OOO]) < 0 ||
        put_u(d, "sFlowCounterDatasources", r->ds_seq[1].n) < 0 ||
        put_u(d, "sFlowNotificationSamples", n[C_SAMPLES]) < 0 ||
        put_u(d, "sFlowNotificationDrops", n[C_DROPS]) < 0 ||
        put_u(d, "sFlowNotificationLostSamples", n[C_LOST]) < 0 ||
        put_u(d, "sFlowNotificationDuplicateSamples", n[C_DUP]) < 0 ||
        put_u(d, "sFlowNotificationOutOfOrderSamples", n[C_OOO]) < 0 ||
        put_u(d, "sFlowNotificationDatasources", r->ds_seq[2].n) < 0 ||
        put_o(d, "firstSeen", ms_since(now, r->first_seen)) < 0 ||
        put_o(d, "lastSeen", ms_since(now, r->last_seen)) < 0 ||
        put_u(d, "uptime", r->uptime) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *rec_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *names[] = {"agent", "now", NULL};
    PyObject *agent;
    double now;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Ud:AgentRecord", names, &agent, &now))
        return NULL;
    AgentRecord *r = (AgentRecord *)type->tp_alloc(type, 0);
    if (r == NULL)
        return NULL;
    r->agent = Py_NewRef(agent);
    r->first_seen = r->last_seen = now;
    if ((r->sources = PySet_New(NULL)) == NULL) {
        Py_DECREF(r);
        return NULL;
    }
    return (PyObject *)r;
}

static void rec_dealloc(AgentRecord *r)
{
    Py_XDECREF(r->agent);
    Py_XDECREF(r->sources);
    map_free(&r->sub_seq);
    for (int k = 0; k < 3; k++)
        map_free(&r->ds_seq[k]);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyMethodDef rec_methods[] = {
    {"datagram", (PyCFunction)(void (*)(void))rec_datagram, METH_FASTCALL,
     "datagram(sub_agent, seq, uptime, src, now): one datagram's header"},
    {"samples_seen", (PyCFunction)rec_samples_seen, METH_O,
     "samples_seen(samples): one datagram's samples (counts, drops, sequence numbers)"},
    {"to_json", (PyCFunction)rec_to_json, METH_O, "to_json(now) -> the /agents/json object"},
    {NULL}};

static PyMemberDef rec_members[] = {
    {"agent", T_OBJECT, offsetof(AgentRecord, agent), READONLY, "agent address"},
    {"sources", T_OBJECT, offsetof(AgentRecord, sources), READONLY, "UDP source addresses"},
    {"first_seen", T_DOUBLE, offsetof(AgentRecord, first_seen), READONLY, NULL},
    {"last_seen", T_DOUBLE, offsetof(AgentRecord, last_seen), READONLY, NULL},
    {"datagrams", T_ULONGLONG, offsetof(AgentRecord, datagrams), READONLY, NULL},
    {"uptime", T_ULONGLONG, offsetof(AgentRecord, uptime), READONLY,
     "sysUpTime (ms) of the latest datagram"},
    {"sub_agent", T_ULONGLONG, offsetof(AgentRecord, sub_agent), READONLY,
     "sub-agent of the latest datagram"},
    {"decode_errors", T_ULONGLONG, offsetof(AgentRecord, decode_errors), 0, NULL},
    {NULL}};

PyTypeObject AgentRecordType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "engine.sflow._accel.AgentRecord",
    .tp_basicsize = sizeof(AgentRecord),
    .tp_dealloc = (destructor)rec_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "AgentRecord(agent, now): one agent's datagram and sample counts (engine/agents.py)",
    .tp_methods = rec_methods,
    .tp_members = rec_members,
    .tp_new = rec_new,
};

int acc_agents_init(PyObject *module)
{
    if (!(s_kind = PyUnicode_InternFromString("kind")) ||
        !(s_flow = PyUnicode_InternFromString("flow")) ||
        !(s_counter = PyUnicode_InternFromString("counter")) ||
        !(s_discard = PyUnicode_InternFromString("discard")) ||
        !(s_ds_class = PyUnicode_InternFromString("ds_class")) ||
        !(s_ds_index = PyUnicode_InternFromString("ds_index")) ||
        !(s_seq = PyUnicode_InternFromString("seq")) ||
        !(s_drops = PyUnicode_InternFromString("drops")))
        return -1;
    if (PyType_Ready(&AgentRecordType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "AgentRecord", (PyObject *)&AgentRecordType);
}
