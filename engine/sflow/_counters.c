/* Counter samples into the metric store, in C (docs/ingest.md, "Counter samples").
 *
 * MetricStore.update (engine/metrics/store.py) is the reference; this follows it rule for rule
 * for the common case, straight from the datagram bytes: a counter sample whose records all
 * have a plan (engine/metrics/store.py counter_plans(): fixed layouts of numbers such as the
 * generic interface and Ethernet counters, mapped by gauges, floats, counters, enums and the
 * interface derivations) from a data source the store already has, current. The records are
 * decoded into the same dicts the Python decoder makes (they are kept as the previous record
 * for the next sample's rates, which either path may read), and the metrics go into the same
 * index, values and name_seen dicts. Everything else (a first sample, a stale or virtual data
 * source, another record, the store's sweep falling due, a record the decoder would refuse)
 * is left to the Python path: acc_counters() then returns 0 having changed nothing. */
#include "_accel.h"
#include <structmember.h>
#include <string.h>

#include "_counters.h"

static PyObject *s_tagkey, *s_up, *s_down, *s_next_sweep, *s_min_expires, *s_counter_samples,
    *s_ignored_samples, *s_timeout, *s_sum, *s_update_subscribers, *s_notify, *s_agent_clock, *n_ifadmin, *n_ifoper, *n_ifinutil, *n_ifoututil,
    *n_ifinpkts, *n_ifoutpkts, *n_ifinoctets, *n_ifoutoctets, *n_pkts[2][3];

#define MAX_FIELDS 48        /* counter_plans() offers no larger record */

enum { DS_VALUES, DS_PREV, DS_LAST, DS_UPTIME, DS_SEQ, DS_SAMPLES, DS_INTERVAL, DS_EXPIRES,
       DS_PARENT, DS_SUB, DS_DEADLINE, NDS };
static const char *ds_fields[NDS] = {"values", "prev", "last", "uptime", "seq", "samples",
                                     "interval", "expires", "parent", "sub", "deadline"};
enum { AS_SOURCES, AS_CLOCKS, AS_CLOCK_NEXT, NAS };
static const char *as_fields[NAS] = {"sources", "clocks", "clock_next"};

typedef struct {
    int idx;
    PyObject *dst, *src;            /* borrowed from the plan tuple */
    unsigned long long unknown, half;
    int is64;
    PyObject *table;
} Field;

typedef struct {
    uint32_t tag;
    PyObject *shown;
    PyObject *names;                /* tuple of field names */
    PyObject *tmpl;                 /* {"counterBlock_tag": shown, name: None, ...} (owned) */
    int nfields, size;
    char codes[64];
    int needs_prev, derive, status_idx, speed_idx;
    int ngauges, nfloats, ncounters, nenums;
    Field *gauges, *floats, *counters, *enums;
} Plan;

struct CounterCtx {
    PyObject *config;               /* the config tuple these were made from (owned) */
    PyObject *store, *store_dict, *agents, *index, *name_seen, *round_float, *builtin_sum;
    double missed_polls;
    PyObject *inf;                  /* store._INF, the "no deadline yet" of clock_next */
    Py_ssize_t ds_off[NDS], as_off[NAS];
    PyTypeObject *ds_type, *as_type;
    Plan *plans;
    int nplans;
};

static Plan *plan_for(CounterCtx *cc, uint32_t tag)
{
    for (int i = 0; i < cc->nplans; i++)
        if (cc->plans[i].tag == tag)
            return &cc->plans[i];
    return NULL;
}

/* ------------------------------------------------------------------ set-up */

static int member_offsets(PyTypeObject *type, const char **names, Py_ssize_t *offs, int n)
{
    for (int i = 0; i < n; i++) {
        PyObject *d = PyObject_GetAttrString((PyObject *)type, names[i]);
        if (d == NULL)
            return -1;
        int ok = Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
        if (ok)
            offs[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "counters: %s is not a __slots__ member", names[i]);
            return -1;
        }
    }
    return 0;
}

static int parse_fields(PyObject *t, int kind, Field **out, int *n)
{
    /* kind 0 gauges (idx, dst, unknown), 1 floats (idx, dst), 2 counters (idx, src, dst, is64,
     * unknown, half), 3 enums (idx, dst, table) */
    if (!PyTuple_Check(t))
        return -1;
    *n = (int)PyTuple_GET_SIZE(t);
    if ((*out = PyMem_Calloc(*n ? (size_t)*n : 1, sizeof(Field))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < *n; i++) {
        PyObject *f = PyTuple_GET_ITEM(t, i);
        Field *x = &(*out)[i];
        static const int sizes[4] = {3, 2, 6, 3};
        if (!PyTuple_Check(f) || PyTuple_GET_SIZE(f) != sizes[kind])
            return -1;
        x->idx = (int)PyLong_AsLong(PyTuple_GET_ITEM(f, 0));
        if (kind == 2) {
            x->src = PyTuple_GET_ITEM(f, 1);
            x->dst = PyTuple_GET_ITEM(f, 2);
            x->is64 = PyObject_IsTrue(PyTuple_GET_ITEM(f, 3));
            x->unknown = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(f, 4));
            x->half = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(f, 5));
        } else {
            x->dst = PyTuple_GET_ITEM(f, 1);
            if (kind == 0)
                x->unknown = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(f, 2));
            if (kind == 3)
                x->table = PyTuple_GET_ITEM(f, 2);
        }
        if (PyErr_Occurred() || !PyUnicode_Check(x->dst) || (kind == 3 && !PyDict_Check(x->table)))
            return -1;
    }
    return 0;
}

static int parse_plan(PyObject *key, PyObject *t, Plan *p)
{
    if (!PyLong_Check(key) || !PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 11)
        return -1;
    p->tag = (uint32_t)PyLong_AsUnsignedLong(key);
    p->shown = PyTuple_GET_ITEM(t, 0);
    p->names = PyTuple_GET_ITEM(t, 1);
    PyObject *codes = PyTuple_GET_ITEM(t, 2);
    const char *c = PyUnicode_Check(codes) ? PyUnicode_AsUTF8(codes) : NULL;
    if (c == NULL || !PyTuple_Check(p->names) || strlen(c) >= sizeof p->codes ||
        (Py_ssize_t)strlen(c) != PyTuple_GET_SIZE(p->names))
        return -1;
    strcpy(p->codes, c);
    p->nfields = (int)strlen(c);
    if (p->nfields > MAX_FIELDS)
        return -1;
    p->size = 0;
    for (int i = 0; i < p->nfields; i++) {
        if (c[i] != 'I' && c[i] != 'Q' && c[i] != 'f')
            return -1;
        p->size += c[i] == 'Q' ? 8 : 4;
    }
    p->needs_prev = PyObject_IsTrue(PyTuple_GET_ITEM(t, 3));
    p->derive = (int)PyLong_AsLong(PyTuple_GET_ITEM(t, 8));
    p->status_idx = (int)PyLong_AsLong(PyTuple_GET_ITEM(t, 9));
    p->speed_idx = (int)PyLong_AsLong(PyTuple_GET_ITEM(t, 10));
    /* the record dict's keys in decode_records' order: copied, so no dict grows per sample */
    if ((p->tmpl = PyDict_New()) == NULL || PyDict_SetItem(p->tmpl, s_tagkey, p->shown) < 0)
        return -1;
    for (int i = 0; i < p->nfields; i++)
        if (PyDict_SetItem(p->tmpl, PyTuple_GET_ITEM(p->names, i), Py_None) < 0)
            return -1;
    if (PyErr_Occurred() || p->derive < 0 || p->derive > 1 ||
        parse_fields(PyTuple_GET_ITEM(t, 4), 0, &p->gauges, &p->ngauges) < 0 ||
        parse_fields(PyTuple_GET_ITEM(t, 5), 1, &p->floats, &p->nfloats) < 0 ||
        parse_fields(PyTuple_GET_ITEM(t, 6), 2, &p->counters, &p->ncounters) < 0 ||
        parse_fields(PyTuple_GET_ITEM(t, 7), 3, &p->enums, &p->nenums) < 0)
        return -1;
    Field *all[4] = {p->gauges, p->floats, p->counters, p->enums};
    int ns[4] = {p->ngauges, p->nfloats, p->ncounters, p->nenums};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < ns[k]; i++)
            if (all[k][i].idx < 0 || all[k][i].idx >= p->nfields)
                return -1;
    if (p->derive && (p->status_idx < 0 || p->status_idx >= p->nfields || p->speed_idx < 0 ||
                      p->speed_idx >= p->nfields))
        return -1;
    return 0;
}

void acc_counters_free(CounterCtx *cc)
{
    if (cc == NULL)
        return;
    for (int i = 0; i < cc->nplans; i++) {
        Py_XDECREF(cc->plans[i].tmpl);
        PyMem_Free(cc->plans[i].gauges);
        PyMem_Free(cc->plans[i].floats);
        PyMem_Free(cc->plans[i].counters);
        PyMem_Free(cc->plans[i].enums);
    }
    PyMem_Free(cc->plans);
    Py_XDECREF(cc->config);
    Py_XDECREF(cc->store_dict);
    Py_XDECREF(cc->agents);
    Py_XDECREF(cc->index);
    Py_XDECREF(cc->name_seen);
    PyMem_Free(cc);
}

/* From MetricStore.c_counter_config(): (store, plans, DataSource, AgentState, _round_float,
 * MISSED_POLLS, _INF). NULL with an exception when it does not fit. */
CounterCtx *acc_counters_new(PyObject *config)
{
    CounterCtx *cc = PyMem_Calloc(1, sizeof(CounterCtx));
    if (cc == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (!PyTuple_Check(config) || PyTuple_GET_SIZE(config) != 7)
        goto bad;
    cc->config = Py_NewRef(config);
    cc->store = PyTuple_GET_ITEM(config, 0);
    PyObject *plans = PyTuple_GET_ITEM(config, 1);
    cc->ds_type = (PyTypeObject *)PyTuple_GET_ITEM(config, 2);
    cc->as_type = (PyTypeObject *)PyTuple_GET_ITEM(config, 3);
    cc->round_float = PyTuple_GET_ITEM(config, 4);
    cc->missed_polls = PyFloat_AsDouble(PyTuple_GET_ITEM(config, 5));
    cc->inf = PyTuple_GET_ITEM(config, 6);
    if (PyErr_Occurred() || !PyDict_Check(plans) || !PyType_Check(cc->ds_type) ||
        !PyType_Check(cc->as_type) || !PyFloat_CheckExact(cc->inf))
        goto bad;
    if (member_offsets(cc->ds_type, ds_fields, cc->ds_off, NDS) < 0 ||
        member_offsets(cc->as_type, as_fields, cc->as_off, NAS) < 0)
        goto fail;
    if ((cc->store_dict = PyObject_GetAttrString(cc->store, "__dict__")) == NULL ||
        (cc->agents = PyObject_GetAttrString(cc->store, "agents")) == NULL ||
        (cc->index = PyObject_GetAttrString(cc->store, "index")) == NULL ||
        (cc->name_seen = PyObject_GetAttrString(cc->store, "name_seen")) == NULL)
        goto fail;
    if (!PyDict_Check(cc->store_dict) || !PyDict_Check(cc->agents) || !PyDict_Check(cc->index) ||
        !PyDict_Check(cc->name_seen))
        goto bad;
    cc->builtin_sum = s_sum;
    Py_ssize_t n = PyDict_GET_SIZE(plans), pos = 0;
    if ((cc->plans = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Plan))) == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    PyObject *k, *v;
    while (PyDict_Next(plans, &pos, &k, &v)) {
        Plan *p = &cc->plans[cc->nplans++];
        if (parse_plan(k, v, p) < 0)
            goto bad;
    }
    return cc;
bad:
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "counters: malformed configuration");
fail:
    acc_counters_free(cc);
    return NULL;
}

int acc_counters_fits(CounterCtx *cc, PyObject *config)
{
    return cc != NULL && cc->config == config;
}

/* ------------------------------------------------------------------ one sample */

static inline PyObject *slot(PyObject *o, Py_ssize_t off)      /* borrowed, maybe NULL */
{
    return *(PyObject **)((char *)o + off);
}

static inline void set_slot(PyObject *o, Py_ssize_t off, PyObject *v)   /* steals v */
{
    Py_XSETREF(*(PyObject **)((char *)o + off), v);
}

static int as_double(PyObject *o, double *out)
{
    if (PyFloat_CheckExact(o)) {
        *out = PyFloat_AS_DOUBLE(o);
        return 0;
    }
    if (PyLong_CheckExact(o)) {
        *out = PyLong_AsDouble(o);
        return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
    }
    return -1;
}

static int as_u64(PyObject *o, unsigned long long *out)
{
    if (!PyLong_CheckExact(o))
        return -1;
    *out = PyLong_AsUnsignedLongLong(o);
    if (*out == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return 0;
}

typedef struct {
    unsigned long long u[MAX_FIELDS];   /* integer fields */
    double f[MAX_FIELDS];               /* float fields */
    PyObject *obj[MAX_FIELDS];          /* the values as Python objects (owned) */
} Rec;

/* the record's fields: 0, or 1 when it is not what the plan expects (the Python decoder
 * decides), -1 on error */
static int decode(const Plan *p, const unsigned char *b, uint32_t length, Rec *r)
{
    if ((int)length < p->size)
        return 1;
    int off = 0;
    for (int i = 0; i < p->nfields; i++)
        r->obj[i] = NULL;
    for (int i = 0; i < p->nfields; i++) {
        if (p->codes[i] == 'Q') {
            r->u[i] = ((unsigned long long)acc_rd32(b + off) << 32) | acc_rd32(b + off + 4);
            off += 8;
        } else if (p->codes[i] == 'I') {
            r->u[i] = acc_rd32(b + off);
            off += 4;
        } else {
            uint32_t w = acc_rd32(b + off);
            float fv;
            memcpy(&fv, &w, 4);
            r->f[i] = (double)fv;
            off += 4;
        }
    }
    for (int i = 0; i < p->nfields; i++) {
        PyObject *o = p->codes[i] == 'f' ? PyFloat_FromDouble(r->f[i])
                      : r->u[i] < 65536 ? acc_uint((unsigned long)r->u[i])
                      : PyLong_FromUnsignedLongLong(r->u[i]);
        if (o == NULL)
            return -1;
        r->obj[i] = o;
    }
    return 0;
}

static void rec_clear(const Plan *p, Rec *r)
{
    for (int i = 0; i < p->nfields; i++)
        Py_CLEAR(r->obj[i]);
}

/* decode_records' dict: {"counterBlock_tag": shown, name: value, ...} */
static PyObject *rec_dict(const Plan *p, Rec *r)
{
    PyObject *d = PyDict_Copy(p->tmpl);
    if (d == NULL)
        goto fail;
    for (int i = 0; i < p->nfields; i++)
        if (PyDict_SetItem(d, PyTuple_GET_ITEM(p->names, i), r->obj[i]) < 0)
            goto fail;
    return d;
fail:
    Py_XDECREF(d);
    return NULL;
}

/* The metrics one sample makes, in the order update()'s dict would hold them. Names never
 * repeat: counter_plans() gives every plan names of its own and acc_counters() takes only
 * samples whose record tags differ. */
#define MAX_OUT 256
typedef struct {
    int n;
    PyObject *name[MAX_OUT];        /* borrowed (plans, interned names) */
    PyObject *value[MAX_OUT];       /* owned */
} Out;

static int put(Out *out, PyObject *name, PyObject *v)     /* steals v */
{
    if (v == NULL)
        return -1;
    if (out->n == MAX_OUT) {
        Py_DECREF(v);
        PyErr_SetString(PyExc_OverflowError, "counters: too many metrics in one sample");
        return -1;
    }
    out->name[out->n] = name;
    out->value[out->n++] = v;
    return 0;
}

static PyObject *out_get(const Out *out, PyObject *name)      /* borrowed or NULL */
{
    for (int i = 0; i < out->n; i++)
        if (out->name[i] == name)
            return out->value[i];
    for (int i = 0; i < out->n; i++)
        if (PyUnicode_Compare(out->name[i], name) == 0)
            return out->value[i];
    return NULL;
}

/* RecordMap.apply (not virtual) and _derive_if */
static int apply(CounterCtx *cc, const Plan *p, Rec *r, PyObject *prev, double dt, Out *out)
{
    for (int i = 0; i < p->ngauges; i++) {
        const Field *x = &p->gauges[i];
        if (r->u[x->idx] != x->unknown && put(out, x->dst, Py_NewRef(r->obj[x->idx])) < 0)
            return -1;
    }
    for (int i = 0; i < p->nfloats; i++) {
        const Field *x = &p->floats[i];
        double v = p->codes[x->idx] == 'f' ? r->f[x->idx] : (double)r->u[x->idx];
        if (v >= 0 && put(out, x->dst, PyObject_CallOneArg(cc->round_float, r->obj[x->idx])) < 0)
            return -1;
    }
    for (int i = 0; i < p->nenums; i++) {
        const Field *x = &p->enums[i];
        PyObject *v = r->obj[x->idx];
        PyObject *name = PyDict_GetItemWithError(x->table, v);   /* table.get(v) or str(v) */
        if (name == NULL && PyErr_Occurred())
            return -1;
        int truthy = name != NULL ? PyObject_IsTrue(name) : 0;
        if (truthy < 0)
            return -1;
        if (put(out, x->dst, truthy ? Py_NewRef(name) : PyObject_Str(v)) < 0)
            return -1;
    }
    if (prev != NULL && dt > 0) {
        for (int i = 0; i < p->ncounters; i++) {
            const Field *x = &p->counters[i];
            unsigned long long c = r->u[x->idx], pv;
            PyObject *po = PyDict_GetItemWithError(prev, x->src);
            if (po == NULL) {
                if (PyErr_Occurred())
                    return -1;
                continue;
            }
            if (as_u64(po, &pv) < 0)
                return 1;       /* not a counter the decoder made: Python decides */
            if (c == x->unknown || pv == x->unknown)
                continue;
            unsigned long long d;
            if (c >= pv) {
                d = c - pv;
            } else {
                /* d + mod, the wrap of a counter of `mod` values */
                d = x->is64 ? c - pv : (unsigned long long)((c + (1ull << 32)) - pv);
                if (!x->is64 && pv >= (1ull << 32))
                    return 1;
                if (d >= x->half)
                    continue;
            }
            if (put(out, x->dst, PyFloat_FromDouble((double)d / dt)) < 0)
                return -1;
        }
    }
    if (p->derive == 1) {
        /* _derive_if */
        unsigned long long status = r->u[p->status_idx], speed = r->u[p->speed_idx];
        if (put(out, n_ifadmin, Py_NewRef((status & 1) ? s_up : s_down)) < 0 ||
            put(out, n_ifoper, Py_NewRef((status & 2) ? s_up : s_down)) < 0)
            return -1;
        if (speed && speed != 0xFFFFFFFFFFFFFFFFull && prev != NULL) {
            PyObject *names[2][2] = {{n_ifinoctets, n_ifinutil}, {n_ifoutoctets, n_ifoututil}};
            for (int k = 0; k < 2; k++) {
                PyObject *o = out_get(out, names[k][0]);
                if (o == NULL)
                    continue;
                /* octets * 800.0 / speed, in Python's arithmetic */
                PyObject *f800 = PyFloat_FromDouble(800.0), *sp = PyLong_FromUnsignedLongLong(speed);
                PyObject *m = f800 && sp ? PyNumber_Multiply(o, f800) : NULL;
                PyObject *q = m ? PyNumber_TrueDivide(m, sp) : NULL;
                Py_XDECREF(f800);
                Py_XDECREF(sp);
                Py_XDECREF(m);
                if (put(out, names[k][1], q) < 0)
                    return -1;
            }
        }
        if (prev != NULL && dt > 0) {
            PyObject *totals[2] = {n_ifinpkts, n_ifoutpkts};
            for (int k = 0; k < 2; k++) {
                PyObject *parts = PyList_New(0);
                if (parts == NULL)
                    return -1;
                for (int j = 0; j < 3; j++) {
                    PyObject *o = out_get(out, n_pkts[k][j]);
                    if (o != NULL && PyList_Append(parts, o) < 0) {
                        Py_DECREF(parts);
                        return -1;
                    }
                }
                int e = 0;
                if (PyList_GET_SIZE(parts))     /* sum(parts): Python's own summation */
                    e = put(out, totals[k], PyObject_CallOneArg(cc->builtin_sum, parts));
                Py_DECREF(parts);
                if (e < 0)
                    return -1;
            }
        }
    }
    return 0;
}

static PyObject *store_get(CounterCtx *cc, PyObject *name)     /* borrowed */
{
    PyObject *v = PyDict_GetItemWithError(cc->store_dict, name);
    if (v == NULL && !PyErr_Occurred())
        PyErr_SetObject(PyExc_AttributeError, name);
    return v;
}

static int store_add(CounterCtx *cc, PyObject *name, long delta)
{
    PyObject *v = store_get(cc, name);
    if (v == NULL)
        return -1;
    PyObject *d = PyLong_FromLong(delta);
    PyObject *s = d ? PyNumber_Add(v, d) : NULL;
    Py_XDECREF(d);
    if (s == NULL)
        return -1;
    int e = PyDict_SetItem(cc->store_dict, name, s);
    Py_DECREF(s);
    return e;
}

/* MetricStore._agent_clock(a, sub, uptime, deadline): the sub-agent's clock reached uptime.
 * Its bookkeeping here; the pass over the agent's data sources, when one can be due, in
 * Python (which repeats the bookkeeping harmlessly before it). 0 or -1. */
static int agent_clock(CounterCtx *cc, PyObject *a, PyObject *subo, unsigned long long uptime,
                       PyObject *upo, PyObject *dl)
{
    PyObject *clocks = slot(a, cc->as_off[AS_CLOCKS]), *next = slot(a, cc->as_off[AS_CLOCK_NEXT]);
    if (clocks == NULL || next == NULL || !PyDict_Check(clocks) || !PyDict_Check(next)) {
        PyErr_SetString(PyExc_TypeError, "counters: AgentState clocks are not dicts");
        return -1;
    }
    PyObject *cur = PyDict_GetItemWithError(clocks, subo);
    unsigned long long cu;
    if (cur == NULL && PyErr_Occurred())
        return -1;
    if (cur != NULL && (as_u64(cur, &cu) < 0 || cu > uptime) &&   /* restarted */
        PyDict_SetItem(next, subo, cc->inf) < 0)
        return -1;
    if (PyDict_SetItem(clocks, subo, upo) < 0)
        return -1;
    PyObject *n = PyDict_GetItemWithError(next, subo);
    double nxt;
    if (n == NULL) {
        if (PyErr_Occurred())
            return -1;
        nxt = PyFloat_AS_DOUBLE(cc->inf);
    } else if (as_double(n, &nxt) < 0) {
        PyErr_SetString(PyExc_TypeError, "counters: clock_next is not a number");
        return -1;
    }
    if (dl != NULL && PyFloat_AS_DOUBLE(dl) < nxt) {
        if (PyDict_SetItem(next, subo, dl) < 0)
            return -1;
        nxt = PyFloat_AS_DOUBLE(dl);
    }
    if ((double)uptime <= nxt)
        return 0;
    PyObject *r = PyObject_CallMethodObjArgs(cc->store, s_agent_clock, a, subo, upo,
                                             dl != NULL ? dl : Py_None, NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

int acc_counters(CounterCtx *cc, const unsigned char *buf, Py_ssize_t rec_off,
                 Py_ssize_t rec_end, uint32_t nrec, uint32_t ds_class, PyObject *agent,
                 PyObject *ds_id, uint32_t seq, PyObject *now, double now_d,
                 unsigned long long uptime, unsigned long long sub_agent)
{
    if (ds_class == 3 || nrec > 32)
        return 0;           /* virtual data sources name their metrics vir_*: Python */
    /* every record must have a plan, a tag of its own, and be what decode_records accepts */
    const Plan *plans[32];
    Py_ssize_t offs[32];
    uint32_t lens[32];
    Py_ssize_t off = rec_off;
    for (uint32_t i = 0; i < nrec; i++) {
        if (off + 8 > rec_end)
            return 0;
        uint32_t tag = acc_rd32(buf + off), length = acc_rd32(buf + off + 4);
        off += 8;
        Py_ssize_t nxt = off + (((Py_ssize_t)length + 3) & ~(Py_ssize_t)3);
        if (nxt > rec_end || (plans[i] = plan_for(cc, tag)) == NULL || (int)length < plans[i]->size)
            return 0;
        for (uint32_t j = 0; j < i; j++)
            if (plans[j] == plans[i])
                return 0;
        offs[i] = off;
        lens[i] = length;
        off = nxt;
    }
    /* the store: its sweep not due, the data source known and current */
    PyObject *next_sweep = store_get(cc, s_next_sweep);
    double ns;
    if (next_sweep == NULL || as_double(next_sweep, &ns) < 0) {
        PyErr_Clear();
        return 0;
    }
    if (now_d >= ns)
        return 0;
    PyObject *a = PyDict_GetItemWithError(cc->agents, agent);
    if (a == NULL || !Py_IS_TYPE(a, cc->as_type)) {
        PyErr_Clear();
        return 0;
    }
    PyObject *sources = slot(a, cc->as_off[AS_SOURCES]);
    PyObject *ds = sources != NULL && PyDict_Check(sources) ? PyDict_GetItemWithError(sources, ds_id)
                                                            : NULL;
    if (ds == NULL || !Py_IS_TYPE(ds, cc->ds_type)) {
        PyErr_Clear();
        return 0;
    }
    PyObject *o_exp = slot(ds, cc->ds_off[DS_EXPIRES]), *o_last = slot(ds, cc->ds_off[DS_LAST]),
             *o_seq = slot(ds, cc->ds_off[DS_SEQ]), *o_up = slot(ds, cc->ds_off[DS_UPTIME]),
             *o_prev = slot(ds, cc->ds_off[DS_PREV]), *o_values = slot(ds, cc->ds_off[DS_VALUES]),
             *o_samples = slot(ds, cc->ds_off[DS_SAMPLES]),
             *o_interval = slot(ds, cc->ds_off[DS_INTERVAL]);
    double expires, last;
    unsigned long long last_seq, ds_up;
    if (o_exp == NULL || o_last == NULL || o_seq == NULL || o_up == NULL || o_prev == NULL ||
        o_values == NULL || o_samples == NULL || o_interval == NULL ||
        as_double(o_exp, &expires) < 0 || as_double(o_last, &last) < 0 ||
        as_u64(o_seq, &last_seq) < 0 || as_u64(o_up, &ds_up) < 0 || !PyDict_CheckExact(o_prev) ||
        !PyDict_CheckExact(o_values) || !PyLong_CheckExact(o_samples) ||
        (o_interval != Py_None && !PyFloat_CheckExact(o_interval)) || last_seq > 0xFFFFFFFFull) {
        PyErr_Clear();
        return 0;
    }
    if (expires < now_d)
        return 0;           /* stale: update() drops and remakes it */
    /* from here on this sample is ours */
    Py_INCREF(ds);
    Py_INCREF(a);
    Py_INCREF(o_prev);
    int rc = -1;
    PyObject *upo = NULL, *so = NULL, *subo = NULL, *dl = NULL;
    Out out;
    out.n = 0;
    Rec local[2], *recs = NULL;
    uint32_t ndec = 0;              /* records decode() has initialised */
    long long gap = 1;
    if (seq == last_seq) {
        rc = store_add(cc, s_ignored_samples, 1) < 0 ? -1 : 1;
        goto done;
    }
    if (seq < last_seq) {
        if (seq < 5 || last_seq - seq > 1000) {
            PyDict_Clear(o_prev);       /* the agent restarted: counters start again */
            gap = 0;
        } else {
            rc = store_add(cc, s_ignored_samples, 1) < 0 ? -1 : 1;
            goto done;
        }
    } else {
        gap = (long long)(seq - last_seq);
    }
    double elapsed = 0.0;
    if (uptime < ds_up) {
        PyDict_Clear(o_prev);
        gap = 0;
    } else {
        elapsed = (double)(long long)(uptime - ds_up) / 1000.0;
    }
    if (elapsed <= 0 && o_interval == Py_None)
        elapsed = now_d - last;         /* no agent clock to go by */
    /* the agent's clock (sysUpTime) measures the interval, missed polls divided out */
    if (0 < gap && gap <= 1000 && elapsed > 0)
        set_slot(ds, cc->ds_off[DS_INTERVAL], PyFloat_FromDouble(elapsed / (double)gap));
    if (store_add(cc, s_counter_samples, 1) < 0)
        goto done;
    PyObject *iv = slot(ds, cc->ds_off[DS_INTERVAL]);
    double interval = iv != NULL && PyFloat_CheckExact(iv) ? PyFloat_AS_DOUBLE(iv) : 0.0;
    if (nrec <= 2) {
        recs = local;
    } else if ((recs = PyMem_Malloc(nrec * sizeof(Rec))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }

    for (uint32_t i = 0; i < nrec; i++) {
        const Plan *p = plans[i];
        Rec *r = &recs[i];
        ndec++;
        int e = decode(p, buf + offs[i], lens[i], r);
        if (e != 0)
            goto done;      /* decode() accepted the layout above: only errors here */
        PyObject *prec = NULL, *pent = PyDict_GetItemWithError(o_prev, p->shown);
        double dt = 0.0;
        if (pent == NULL && PyErr_Occurred())
            goto done;
        if (pent != NULL) {
            /* (record, time, uptime, seq) */
            double ptime;
            unsigned long long pup, pseq;
            if (!PyTuple_Check(pent) || PyTuple_GET_SIZE(pent) != 4 ||
                !PyDict_Check(PyTuple_GET_ITEM(pent, 0)) ||
                as_double(PyTuple_GET_ITEM(pent, 1), &ptime) < 0) {
                PyErr_SetString(PyExc_TypeError, "counters: unexpected previous record");
                goto done;
            }
            prec = PyTuple_GET_ITEM(pent, 0);
            PyObject *puo = PyTuple_GET_ITEM(pent, 2), *pso = PyTuple_GET_ITEM(pent, 3);
            if (puo != Py_None && as_u64(puo, &pup) == 0 && uptime > pup)
                dt = (double)(long long)(uptime - pup) / 1000.0;
            else if (interval && pso != Py_None && as_u64(pso, &pseq) == 0 && seq > pseq)
                dt = (double)(long long)(seq - pseq) * interval;   /* clock stuck: the polls between */
            else
                dt = now_d - ptime;
            PyErr_Clear();
            if (dt <= 0)
                prec = NULL;
        }
        Py_XINCREF(pent);           /* apply may replace it in prev below */
        e = apply(cc, p, r, prec, dt, &out);
        Py_XDECREF(pent);
        if (e != 0) {
            if (e > 0)
                PyErr_SetString(PyExc_TypeError, "counters: unexpected previous counter");
            goto done;
        }
        if (p->needs_prev) {
            PyObject *d = rec_dict(p, r);
            if (d == NULL)
                goto done;
            if ((upo == NULL && (upo = PyLong_FromUnsignedLongLong(uptime)) == NULL) ||
                (so == NULL && (so = PyLong_FromUnsignedLong(seq)) == NULL)) {
                Py_DECREF(d);
                goto done;
            }
            PyObject *t = PyTuple_Pack(4, d, now, upo, so);
            Py_DECREF(d);
            if (t == NULL || PyDict_SetItem(o_prev, p->shown, t) < 0) {
                Py_XDECREF(t);
                goto done;
            }
            Py_DECREF(t);
        }
    }
    /* the data source's own fields */
    if ((so == NULL && (so = PyLong_FromUnsignedLong(seq)) == NULL) ||
        (upo == NULL && (upo = PyLong_FromUnsignedLongLong(uptime)) == NULL))
        goto done;
    set_slot(ds, cc->ds_off[DS_SEQ], Py_NewRef(so));
    set_slot(ds, cc->ds_off[DS_UPTIME], Py_NewRef(upo));
    set_slot(ds, cc->ds_off[DS_LAST], Py_NewRef(now));
    PyObject *one = PyLong_FromLong(1);
    PyObject *samples = one ? PyNumber_Add(o_samples, one) : NULL;
    Py_XDECREF(one);
    if (samples == NULL)
        goto done;
    set_slot(ds, cc->ds_off[DS_SAMPLES], samples);
    double timeout;
    PyObject *to = store_get(cc, s_timeout);
    if (to == NULL || as_double(to, &timeout) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "counters: store.timeout is not a number");
        goto done;
    }
    double patience = interval ? cc->missed_polls * interval + 1.0 : timeout;
    expires = now_d + patience;
    set_slot(ds, cc->ds_off[DS_EXPIRES], PyFloat_FromDouble(expires));
    PyObject *me = store_get(cc, s_min_expires);
    double min_expires;
    if (me == NULL || as_double(me, &min_expires) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "counters: store._min_expires is not a number");
        goto done;
    }
    if (expires < min_expires) {
        PyObject *e = PyFloat_FromDouble(expires);
        if (e == NULL || PyDict_SetItem(cc->store_dict, s_min_expires, e) < 0) {
            Py_XDECREF(e);
            goto done;
        }
        Py_DECREF(e);
    }
    /* the agent's clock: this data source's deadline on it, and the others' (_agent_clock) */
    if ((subo = PyLong_FromUnsignedLongLong(sub_agent)) == NULL)
        goto done;
    set_slot(ds, cc->ds_off[DS_SUB], Py_NewRef(subo));
    double deadline = (double)uptime + patience * 1000.0;
    if (interval) {
        if ((dl = PyFloat_FromDouble(deadline)) == NULL)
            goto done;
        set_slot(ds, cc->ds_off[DS_DEADLINE], Py_NewRef(dl));
    } else {
        set_slot(ds, cc->ds_off[DS_DEADLINE], Py_NewRef(Py_None));
    }
    if (agent_clock(cc, a, subo, uptime, upo, dl) < 0)
        goto done;
    /* the metrics: index, the data source's values, names seen (no plan makes ifname or
     * host_name, which update() also watches) */
    for (int i = 0; i < out.n; i++) {
        PyObject *name = out.name[i], *value = out.value[i];
        PyObject *entry = PyDict_GetItemWithError(cc->index, name);
        if (entry == NULL) {
            if (PyErr_Occurred() || (entry = PyDict_New()) == NULL)
                goto done;
            int e = PyDict_SetItem(cc->index, name, entry);
            Py_DECREF(entry);
            if (e < 0)
                goto done;
        }
        if (PyDict_SetItem(entry, ds, value) < 0)
            goto done;
    }
    for (int i = 0; i < out.n; i++)
        if (PyDict_SetItem(o_values, out.name[i], out.value[i]) < 0)
            goto done;
    for (int i = 0; i < out.n; i++) {
        /* name_seen[name] = now, without replacing an equal time (most names were stamped by
         * the previous sample of the same datagram) */
        PyObject *seen = PyDict_GetItemWithError(cc->name_seen, out.name[i]);
        if (seen == NULL && PyErr_Occurred())
            goto done;
        if (seen != now && (seen == NULL || !PyFloat_CheckExact(seen) || !PyFloat_CheckExact(now) ||
                            PyFloat_AS_DOUBLE(seen) != PyFloat_AS_DOUBLE(now)) &&
            PyDict_SetItem(cc->name_seen, out.name[i], now) < 0)
            goto done;
    }
    /* the update subscribers (history) get the metrics as update() hands them over */
    PyObject *subs = store_get(cc, s_update_subscribers);
    if (subs == NULL)
        goto done;
    int want = PyObject_IsTrue(subs);
    if (want < 0)
        goto done;
    if (want && out.n) {
        PyObject *d = _PyDict_NewPresized(out.n);
        if (d == NULL)
            goto done;
        for (int i = 0; i < out.n; i++) {
            if (PyDict_SetItem(d, out.name[i], out.value[i]) < 0) {
                Py_DECREF(d);
                goto done;
            }
        }
        PyObject *r = PyObject_CallMethodObjArgs(cc->store, s_notify, agent, ds_id, d, now, NULL);
        Py_DECREF(d);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
    }
    rc = 1;
done:
    if (recs != NULL) {
        for (uint32_t i = 0; i < ndec; i++)
            rec_clear(plans[i], &recs[i]);
        if (recs != local)
            PyMem_Free(recs);
    }
    for (int i = 0; i < out.n; i++)
        Py_DECREF(out.value[i]);
    Py_XDECREF(upo);
    Py_XDECREF(so);
    Py_XDECREF(subo);
    Py_XDECREF(dl);
    Py_DECREF(o_prev);
    Py_DECREF(a);
    Py_DECREF(ds);
    return rc;
}

int acc_counters_init(void)
{
    struct { PyObject **dst; const char *s; } names[] = {
        {&s_tagkey, "counterBlock_tag"}, {&s_up, "up"}, {&s_down, "down"},
        {&s_next_sweep, "_next_sweep"}, {&s_min_expires, "_min_expires"},
        {&s_counter_samples, "counter_samples"}, {&s_ignored_samples, "ignored_samples"},
        {&s_timeout, "timeout"}, {&s_update_subscribers, "update_subscribers"},
        {&s_notify, "_notify"}, {&s_agent_clock, "_agent_clock"},
        {&n_ifadmin, "ifadminstatus"}, {&n_ifoper, "ifoperstatus"},
        {&n_ifinutil, "ifinutilization"}, {&n_ifoututil, "ifoututilization"},
        {&n_ifinpkts, "ifinpkts"}, {&n_ifoutpkts, "ifoutpkts"}, {&n_ifinoctets, "ifinoctets"},
        {&n_ifoutoctets, "ifoutoctets"}, {&n_pkts[0][0], "ifinucastpkts"},
        {&n_pkts[0][1], "ifinmulticastpkts"}, {&n_pkts[0][2], "ifinbroadcastpkts"},
        {&n_pkts[1][0], "ifoutucastpkts"}, {&n_pkts[1][1], "ifoutmulticastpkts"},
        {&n_pkts[1][2], "ifoutbroadcastpkts"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((*names[i].dst = PyUnicode_InternFromString(names[i].s)) == NULL)
            return -1;
    PyObject *builtins = PyEval_GetBuiltins();      /* borrowed */
    s_sum = builtins ? PyDict_GetItemString(builtins, "sum") : NULL;
    if (s_sum == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "counters: no builtin sum");
        return -1;
    }
    Py_INCREF(s_sum);
    return 0;
}
