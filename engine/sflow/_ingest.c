/* Ingest: the batch ingest path (docs/ingest.md, "One datagram, in C").
 *
 * Ingest.run(batch) takes [(datagram bytes, source address, receive time), ...] and does, per
 * datagram, what engine/ingest.py's ingest_python does (the reference, and what the
 * FLOWRT_NO_ACCEL=1 lane runs): walk the datagram, book it and its samples on the agent's
 * AgentRecord, and hand every sample on. A flow sample, where the flows subsystem is its only
 * reader (no other flow handler, no enricher but the agent's), is decoded into a C array of
 * the attributes the flow definitions read and run through the C flow pipeline on that array
 * (engine/flows/_fastpath.c, through its C API): no Python object per sample. Everything else
 * takes the Python route through the same code Python would run:
 *   - a datagram the walker does not take in C (not bytes, not v5, bad framing, a sample the
 *     Python sample decoder refuses without a DecodeError) goes whole to ingest_python;
 *   - a counter sample, where the metric store is its only reader, goes into the store in C
 *     (_counters.c) when it is the common case, else it becomes the walker's CounterSample;
 *   - discard and other samples become the walker's Python objects and go to the engine's
 *     handler lists;
 *   - a flow sample the C attribute decoder cannot decode on its own (tunnels, ARP, malformed
 *     records, a record handler that reads the dict), or any flow sample while another
 *     handler or enricher wants it, becomes a FlowSample and goes to the flow handlers.
 * The configuration (handler lists, the flow pipeline, the attribute subset) comes from
 * Python (engine/ingest.py) and is fetched again whenever Python marks it stale, also in the
 * middle of a batch (a threshold event subscriber may define a flow). */
#include "_accel.h"
#include "_counters.h"
#include "../flows/_fastpath_api.h"
#include <string.h>

#define KEYS_SEEN_EVERY 16      /* engine/flows/engine.py KEYS_SEEN_SAMPLE, KEYS_SEEN_ACTIVE */
#define KEYS_SEEN_FIRST 1000
#define NOTE_FIRST 16           /* engine/flows/engine.py NOTE_FIRST, NOTE_MASK: the samples */
#define NOTE_MASK 15            /* a data source's sampling rates are noted from */

static PyObject *s_skip, *s_agent, *s_kind, *s_flow, *s_counter, *s_discard, *s_ds_class,
    *s_ds_index, *s_seq, *s_drops, *s_datagrams, *s_bytes, *s_flow_samples, *s_counter_samples,
    *s_discard_samples, *s_other_samples;

/* ------------------------------------------------------------------ configuration */

/* the tuple engine/ingest.py's config() returns, unpacked (borrowed from `tuple`) */
typedef struct {
    PyObject *tuple;
    PyObject *flow_handlers, *counter_handlers, *other_handlers;
    int fast;                   /* flow samples go to the C pipeline path */
    PyObject *flows;            /* the FlowEngine: its _skip counter */
    PyObject *pipeline;         /* its C Pipeline, or None without definitions */
    PyObject *wanted;           /* frozenset of attribute names, or None for all */
    uint64_t mask[2];
    int agent_on;               /* the agent enricher is active */
    PyObject *keys_seen, *sources;
    PyObject *counters;         /* MetricStore.c_counter_config() or None */
    int interfaces_only;        /* other counter readers skip class 0: only it takes the C path */
} Cfg;

typedef struct {
    PyObject_HEAD
    PyObject *config;           /* () -> the configuration tuple */
    PyObject *fallback;         /* (data, src, now): one datagram the Python way */
    PyObject *decode_failed;    /* (src, exc): a datagram that does not decode */
    PyObject *handler_failed;   /* (handler, record, exc) -> True: skip the sample's others */
    PyObject *admit;            /* (agent, now) -> a new AgentRecord, or None (refused) */
    PyObject *by_address;       /* agent address -> AgentRecord */
    PyObject *stats;            /* AnalyzerStats */
    int stale;                  /* the configuration changed: fetch it again */
    FpApi *fp;
    /* how samples went (Ingest.counts(), for tests and benchmarks) */
    unsigned long long c_flows, python_flows, python_datagrams, c_counters, python_counters;
    CounterCtx *cc;             /* made from the last counters configuration */
} Ingest;

static int cfg_load(Ingest *self, Cfg *cfg)
{
    PyObject *t = PyObject_CallNoArgs(self->config);
    if (t == NULL)
        return -1;
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 12) {
        Py_DECREF(t);
        PyErr_SetString(PyExc_TypeError, "Ingest: config() must return a 12-tuple");
        return -1;
    }
    Py_XSETREF(cfg->tuple, t);
    self->stale = 0;
    cfg->flow_handlers = PyTuple_GET_ITEM(t, 0);
    cfg->counter_handlers = PyTuple_GET_ITEM(t, 1);
    cfg->other_handlers = PyTuple_GET_ITEM(t, 2);
    cfg->fast = PyObject_IsTrue(PyTuple_GET_ITEM(t, 3));
    cfg->flows = PyTuple_GET_ITEM(t, 4);
    cfg->pipeline = PyTuple_GET_ITEM(t, 5);
    cfg->wanted = PyTuple_GET_ITEM(t, 6);
    cfg->agent_on = PyObject_IsTrue(PyTuple_GET_ITEM(t, 7));
    cfg->keys_seen = PyTuple_GET_ITEM(t, 8);
    cfg->sources = PyTuple_GET_ITEM(t, 9);
    cfg->counters = PyTuple_GET_ITEM(t, 10);
    cfg->interfaces_only = PyObject_IsTrue(PyTuple_GET_ITEM(t, 11));
    if (cfg->fast < 0 || cfg->agent_on < 0 || cfg->interfaces_only < 0)
        return -1;
    if (cfg->counters != Py_None && !acc_counters_fits(self->cc, cfg->counters)) {
        acc_counters_free(self->cc);
        if ((self->cc = acc_counters_new(cfg->counters)) == NULL)
            return -1;
    }
    if (!PyList_Check(cfg->flow_handlers) || !PyList_Check(cfg->counter_handlers) ||
        !PyList_Check(cfg->other_handlers)) {
        PyErr_SetString(PyExc_TypeError, "Ingest: handler lists must be lists");
        return -1;
    }
    if (cfg->fast) {
        if ((cfg->pipeline != Py_None && Py_TYPE(cfg->pipeline) != self->fp->pipeline_type) ||
            !PyDict_Check(cfg->keys_seen) || !PyDict_Check(cfg->sources)) {
            PyErr_SetString(PyExc_TypeError, "Ingest: a fast configuration needs a C Pipeline "
                                             "and the keys_seen and sources dicts");
            return -1;
        }
        cfg->mask[0] = cfg->mask[1] = ~0ull;
        if (cfg->wanted != Py_None && acc_wanted_mask(cfg->wanted, cfg->mask) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ one batch's state */

typedef struct {
    Ingest *self;
    Cfg cfg;
    long long skip;             /* the FlowEngine's _skip while fast */
    int skip_loaded;
    unsigned long long datagrams, bytes, nflow, ncounter, ndiscard, nother;
    uint32_t rate_val;          /* the last sampling rate and its int object */
    PyObject *rate_obj;
} Run;

/* FlowEngine._skip: read once, written back around any Python code that may count samples */
static int skip_in(Run *run)
{
    run->skip_loaded = 0;
    if (!run->cfg.fast)
        return 0;
    PyObject *v = PyObject_GetAttr(run->cfg.flows, s_skip);
    if (v == NULL)
        return -1;
    run->skip = PyLong_AsLongLong(v);
    Py_DECREF(v);
    if (run->skip == -1 && PyErr_Occurred())
        return -1;
    run->skip_loaded = 1;
    return 0;
}

static int skip_out(Run *run)
{
    if (!run->skip_loaded)
        return 0;
    PyObject *v = PyLong_FromLongLong(run->skip);
    if (v == NULL)
        return -1;
    int r = PyObject_SetAttr(run->cfg.flows, s_skip, v);
    Py_DECREF(v);
    run->skip_loaded = 0;
    return r;
}

/* after Python code ran: the configuration may have changed, and the skip count with it */
static int resync(Run *run)
{
    if (run->self->stale && (skip_out(run) < 0 || cfg_load(run->self, &run->cfg) < 0))
        return -1;
    return run->skip_loaded || !run->cfg.fast ? 0 : skip_in(run);
}

/* call Python code that may ingest or count samples itself */
#define AROUND(run, expr) (skip_out(run) < 0 ? NULL : (expr))

static PyObject *rate_obj(Run *run, uint32_t rate)
{
    if (run->rate_obj == NULL || run->rate_val != rate) {
        PyObject *o = acc_uint(rate);
        if (o == NULL)
            return NULL;
        Py_XSETREF(run->rate_obj, o);
        run->rate_val = rate;
    }
    return run->rate_obj;   /* borrowed */
}

static int add_stat(PyObject *stats, PyObject *name, unsigned long long delta)
{
    if (delta == 0)
        return 0;
    PyObject *old = PyObject_GetAttr(stats, name);
    if (old == NULL)
        return -1;
    PyObject *d = PyLong_FromUnsignedLongLong(delta);
    PyObject *v = d ? PyNumber_Add(old, d) : NULL;
    Py_DECREF(old);
    Py_XDECREF(d);
    if (v == NULL)
        return -1;
    int r = PyObject_SetAttr(stats, name, v);
    Py_DECREF(v);
    return r;
}

static int commit_stats(Run *run)
{
    PyObject *st = run->self->stats;
    int r = add_stat(st, s_datagrams, run->datagrams) | add_stat(st, s_bytes, run->bytes) |
            add_stat(st, s_flow_samples, run->nflow) |
            add_stat(st, s_counter_samples, run->ncounter) |
            add_stat(st, s_discard_samples, run->ndiscard) |
            add_stat(st, s_other_samples, run->nother);
    run->datagrams = run->bytes = run->nflow = run->ncounter = run->ndiscard = run->nother = 0;
    return r < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ handlers */

/* The exception a handler raised, as Engine's handler loop treats it: a DecodeError counts
 * against the agent and skips the sample's other handlers (returns 1), another Exception is
 * logged (0); anything else propagates (-1). */
static int handler_error(Run *run, PyObject *handler, PyObject *rec)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return -1;
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (tb != NULL && exc != NULL)
        PyException_SetTraceback(exc, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    if (exc == NULL)
        return -1;
    PyObject *r = AROUND(run, PyObject_CallFunctionObjArgs(run->self->handler_failed, handler,
                                                            rec, exc, NULL));
    Py_DECREF(exc);
    if (r == NULL)
        return -1;
    int stop = PyObject_IsTrue(r);
    Py_DECREF(r);
    return stop;
}

static int call_handlers(Run *run, PyObject *handlers, PyObject *sample, PyObject *now,
                         PyObject *rec)
{
    Py_INCREF(handlers);        /* a handler may replace the engine's list */
    int r = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(handlers); i++) {
        PyObject *h = Py_NewRef(PyList_GET_ITEM(handlers, i));
        PyObject *res = AROUND(run, PyObject_CallFunctionObjArgs(h, sample, now, NULL));
        int stop = 0;
        if (res == NULL)
            stop = handler_error(run, h, rec);
        Py_XDECREF(res);
        Py_DECREF(h);
        if (stop < 0) {
            r = -1;
            break;
        }
        if (stop)
            break;
    }
    Py_DECREF(handlers);
    return r;
}

/* ------------------------------------------------------------------ a decoder view */

typedef struct {
    FpView base;
    attrs_t *a;
    PyObject *agent;
    int agent_on, agent_added;
} IView;

/* the agent enricher's attrs["agent"], once a real dict exists (after the decoder's keys) */
static int view_agent(IView *v)
{
    if (!v->agent_on || v->agent_added || v->a->dict == NULL)
        return 0;
    v->agent_added = 1;
    return PyDict_SetItem(v->a->dict, s_agent, v->agent);
}

static PyObject *view_get(FpView *fv, int id, PyObject *name)
{
    IView *v = (IView *)fv;
    attrs_t *a = v->a;
    if (a->dict != NULL) {
        if (view_agent(v) < 0)
            return NULL;
        PyObject *x = PyDict_GetItemWithError(a->dict, name);
        if (x == NULL && PyErr_Occurred())
            return NULL;
        return Py_NewRef(x ? x : Py_None);
    }
    if (id >= 0 && id < NKEYS)
        return Py_NewRef(a->pos[id] >= 0 ? a->val[a->pos[id]] : Py_None);
    if (id == FP_ID_AGENT && v->agent_on)
        return Py_NewRef(v->agent);
    return Py_NewRef(Py_None);
}

static PyObject *view_dict(FpView *fv)
{
    IView *v = (IView *)fv;
    if (v->a->dict == NULL && acc_attrs_materialize(v->a) < 0)
        return NULL;
    return view_agent(v) < 0 ? NULL : v->a->dict;
}

/* ------------------------------------------------------------------ samples */

enum { D_FLOW, D_COUNTER, D_OBJ };

typedef struct {
    int what;                   /* D_COUNTER: tag, seq, cls, idx, nrec, rec, end */
    uint32_t tag, seq, cls, idx, rate, pool, drops, in_fmt, in, out_fmt, out, nrec;
    Py_ssize_t rec, end;
    PyObject *obj;              /* D_OBJ: the walker's sample object (owned) */
} desc_t;

/* FlowEngine._note_source for one sample */
static int note_source(Run *run, PyObject *agent, PyObject *ds, const desc_t *d, PyObject *rate,
                       PyObject *now)
{
    PyObject *key = PyTuple_Pack(2, agent, ds);
    if (key == NULL)
        return -1;
    int r = -1;
    PyObject *seq = NULL, *pool = NULL;
    PyObject *info = PyDict_GetItemWithError(run->cfg.sources, key);   /* borrowed */
    if (info == NULL && PyErr_Occurred())
        goto done;
    if ((seq = PyLong_FromUnsignedLong(d->seq)) == NULL ||
        (pool = PyLong_FromUnsignedLong(d->pool)) == NULL)
        goto done;
    int fresh = info == NULL;
    if (!fresh) {
        Py_INCREF(info);
        PyObject *last = PySequence_GetItem(info, 3);
        fresh = last == NULL ? -1 : PyObject_RichCompareBool(seq, last, Py_LT);
        Py_XDECREF(last);
        if (fresh == 0) {
            fresh = PySequence_SetItem(info, 0, rate) < 0 || PySequence_SetItem(info, 3, seq) < 0 ||
                    PySequence_SetItem(info, 4, pool) < 0 || PySequence_SetItem(info, 5, now) < 0
                        ? -1 : 0;
            if (fresh == 0)
                r = 0;
        }
        Py_DECREF(info);
        if (fresh < 0)
            goto done;
    }
    if (fresh) {
        PyObject *list = PyList_New(6);
        if (list == NULL)
            goto done;
        PyList_SET_ITEM(list, 0, Py_NewRef(rate));
        PyList_SET_ITEM(list, 1, Py_NewRef(seq));
        PyList_SET_ITEM(list, 2, Py_NewRef(pool));
        PyList_SET_ITEM(list, 3, Py_NewRef(seq));
        PyList_SET_ITEM(list, 4, Py_NewRef(pool));
        PyList_SET_ITEM(list, 5, Py_NewRef(now));
        r = PyDict_SetItem(run->cfg.sources, key, list);
        Py_DECREF(list);
    }
done:
    Py_XDECREF(seq);
    Py_XDECREF(pool);
    Py_DECREF(key);
    return r;
}

/* flow_keys: every key the sample has (before the enrichers add theirs) */
static int note_keys(Run *run, attrs_t *a, PyObject *now)
{
    PyObject *seen = run->cfg.keys_seen;
    if (a->dict != NULL) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(a->dict, &pos, &k, &v))
            if (PyDict_SetItem(seen, k, now) < 0)
                return -1;
        return 0;
    }
    for (int i = 0; i < a->n; i++)
        if (PyDict_SetItem(seen, acc_K[a->key[i]], now) < 0)
            return -1;
    return 0;
}

/* A flow sample the Python way: a FlowSample to every flow handler. */
static int flow_python(Run *run, const desc_t *d, PyObject *bufobj, PyObject *agent,
                       PyObject *now, PyObject *rec)
{
    run->self->python_flows++;
    PyObject *s = acc_flow_sample(bufobj, agent, (int)d->tag, d->seq, d->cls, d->idx, d->rate,
                                  d->pool, d->drops, d->in_fmt, d->in, d->out_fmt, d->out,
                                  d->rec, d->end, d->nrec);
    if (s == NULL)
        return -1;
    int r = call_handlers(run, run->cfg.flow_handlers, s, now, rec);
    Py_DECREF(s);
    return r;
}

/* FlowEngine.on_flow_sample in C for a sample whose attributes the C decoder takes alone;
 * anything else goes to flow_python (the skip count as if this had not counted it). */
static int flow_fast(Run *run, const desc_t *d, PyObject *bufobj, const unsigned char *buf,
                     Py_ssize_t buflen, PyObject *agent, PyObject *ds, PyObject *now,
                     PyObject *rec)
{
    Cfg *cfg = &run->cfg;
    long long skip = ++run->skip;
    int sampled, has_pipeline = cfg->pipeline != Py_None;
    /* chosen by the sample's own sequence number: the same in any process (workers) */
    int note = d->seq < NOTE_FIRST || (d->seq & NOTE_MASK) == 0;
    if (!has_pipeline) {
        sampled = skip % KEYS_SEEN_EVERY == 0;
        if (!sampled && !note)
            return 0;
    } else {
        sampled = skip < KEYS_SEEN_FIRST || skip % KEYS_SEEN_EVERY == 0;
    }
    PyObject *rate = rate_obj(run, d->rate);
    if (rate == NULL)
        return -1;
    Py_INCREF(rate);
    if (!has_pipeline && !sampled) {      /* only the data source's sampling rates */
        int rn = note_source(run, agent, ds, d, rate, now);
        Py_DECREF(rate);
        return rn;
    }
    sfields_t f = {bufobj, buf, buflen, (unsigned long long)d->rec, (unsigned long long)d->end,
                   d->nrec, d->in, d->out, d->in_fmt, d->out_fmt, d->cls, d->idx,
                   NULL, NULL, rate};
    attrs_t a;
    int subset = !sampled && cfg->wanted != Py_None;
    acc_attrs_init(&a, subset ? cfg->wanted : NULL, subset ? cfg->mask : NULL);
    int r = acc_fields_attrs(&f, &a);
    if (r != OK) {
        acc_attrs_clear(&a);
        Py_DECREF(rate);
        if (r < 0)
            PyErr_Clear();
        run->skip--;
        return flow_python(run, d, bufobj, agent, now, rec) < 0 || resync(run) < 0 ? -1 : 0;
    }
    run->self->c_flows++;
    int rc = 0;
    if ((note && note_source(run, agent, ds, d, rate, now) < 0) ||
        (sampled && note_keys(run, &a, now) < 0))
        rc = -1;
    if (rc == 0 && has_pipeline) {
        IView v = {{view_get, view_dict}, &a, agent, cfg->agent_on, 0};
        rc = run->self->fp->run(cfg->pipeline, &v.base, agent, ds, rate, now);
    }
    acc_attrs_clear(&a);
    Py_DECREF(rate);
    if (rc < 0) {
        /* what on_flow_sample raised: the handler loop's rules */
        PyObject *h = PyList_GET_SIZE(cfg->flow_handlers) ? PyList_GET_ITEM(cfg->flow_handlers, 0)
                                                          : Py_None;
        Py_INCREF(h);
        rc = handler_error(run, h, rec);
        Py_DECREF(h);
        rc = rc < 0 ? -1 : 0;
    }
    return rc < 0 || resync(run) < 0 ? -1 : 0;
}

/* AgentRecord bookkeeping for a walker's sample object (samples_seen's rules) */
static int track_obj(AgentRecord *rec, PyObject *s)
{
    PyObject *kind = PyObject_GetAttr(s, s_kind);
    if (kind == NULL)
        return -1;
    int k = !PyUnicode_Check(kind) ? -1
            : PyUnicode_Compare(kind, s_flow) == 0 ? 0
            : PyUnicode_Compare(kind, s_counter) == 0 ? 1
            : PyUnicode_Compare(kind, s_discard) == 0 ? 2 : -1;
    Py_DECREF(kind);
    if (k < 0)
        return 0;
    PyObject *names[4] = {s_ds_class, s_ds_index, s_seq, s_drops};
    uint32_t v[4] = {0, 0, 0, 0};
    for (int i = 0; i < (k == 1 ? 3 : 4); i++) {
        PyObject *o = PyObject_GetAttr(s, names[i]);
        if (o == NULL)
            return -1;
        unsigned long x = PyLong_Check(o) ? PyLong_AsUnsignedLong(o) : (unsigned long)-1;
        Py_DECREF(o);
        if (x > 0xFFFFFFFFul) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "sample field out of range");
            return -1;
        }
        v[i] = (uint32_t)x;
    }
    return acc_agent_sample(rec, k, v[0], v[1], v[2], v[3]);
}

/* A counter sample: into the metric store in C where that is its only reader and the
 * common case (_counters.c), else the walker's CounterSample to the counter handlers. */
static int counter(Run *run, const desc_t *d, PyObject *data, const unsigned char *b,
                   PyObject *agent, PyObject *now, double now_d, PyObject *rec)
{
    Ingest *self = run->self;
    if (run->cfg.counters != Py_None && self->cc != NULL &&
        (!run->cfg.interfaces_only || d->cls == 0)) {
        PyObject *ds = acc_data_source(d->cls, d->idx);
        if (ds == NULL)
            return -1;
        int r = acc_counters(self->cc, b, d->rec, d->end, d->nrec, d->cls, agent, ds, d->seq, now,
                             now_d, acc_agent_uptime((AgentRecord *)rec),
                             acc_agent_sub_agent((AgentRecord *)rec));
        Py_DECREF(ds);
        if (r > 0) {
            self->c_counters++;
            return 0;
        }
        if (r < 0) {
            /* what the store's handler would have raised: the handler loop's rules */
            PyObject *h = PyList_GET_SIZE(run->cfg.counter_handlers)
                              ? PyList_GET_ITEM(run->cfg.counter_handlers, 0) : Py_None;
            Py_INCREF(h);
            r = handler_error(run, h, rec);
            Py_DECREF(h);
            return r < 0 ? -1 : 0;
        }
    }
    self->python_counters++;
    Py_ssize_t hdr = d->tag == 2 ? 12 : 16;
    PyObject *s = acc_py_sample(data, d->tag, d->rec - hdr, d->end);
    if (s == NULL)
        return -1;
    int r = -1;
    if (s == Py_None)       /* not for these tags; as the walker skips it */
        r = 0;
    else if (PyObject_SetAttr(s, s_agent, agent) == 0)
        r = call_handlers(run, run->cfg.counter_handlers, s, now, rec);
    Py_DECREF(s);
    return r;
}

/* ------------------------------------------------------------------ one datagram */

#define DESCS_ON_STACK 32

static void release(desc_t *d, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        Py_CLEAR(d[i].obj);
}

/* one datagram; 0 or -1 (an exception to propagate) */
static int datagram(Run *run, PyObject *data, PyObject *src, PyObject *now)
{
    Ingest *self = run->self;
    double now_d = PyFloat_Check(now) ? PyFloat_AS_DOUBLE(now) : PyFloat_AsDouble(now);
    if (now_d == -1.0 && PyErr_Occurred())
        PyErr_Clear();
    else if (PyBytes_CheckExact(data) && PyUnicode_CheckExact(src)) {
        const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(data);
        Py_ssize_t n = PyBytes_GET_SIZE(data);
        /* the walker's framing checks (_accel.c walk()): what fails them goes to Python */
        uint32_t at = n >= 28 ? acc_rd32(b + 4) : 0;
        Py_ssize_t alen = at == 1 ? 4 : at == 2 ? 16 : 0, off = 8 + alen;
        if (n >= 28 && acc_rd32(b) == 5 && alen && off + 16 <= n) {
            uint32_t nsamples = acc_rd32(b + off + 12);
            Py_ssize_t o = off + 16;
            int framed = nsamples <= SFLOW_MAX_SAMPLES;
            for (uint32_t k = 0; framed && k < nsamples; k++) {
                if (o + 8 > n) {
                    framed = 0;
                    break;
                }
                uint32_t tag = acc_rd32(b + o), length = acc_rd32(b + o + 4);
                o += 8;
                if (o + (Py_ssize_t)length > n || (length & 3) ||
                    (tag == 1 && (length < SFLOW_FLOW_SAMPLE_SIZE || acc_rd32(b + o + SFLOW_FLOW_SAMPLE_NREC) > SFLOW_MAX_RECORDS)) ||
                    (tag == 3 && (length < SFLOW_FLOW_SAMPLE_EXPANDED_SIZE ||
                                  acc_rd32(b + o + SFLOW_FLOW_SAMPLE_EXPANDED_NREC) > SFLOW_MAX_RECORDS)))
                    framed = 0;
                o += length;
            }
            if (framed)
                goto walk;
        }
    }
    /* the Python way, whole */
    {
        self->python_datagrams++;
        PyObject *r = AROUND(run, PyObject_CallFunctionObjArgs(self->fallback, data, src, now,
                                                                NULL));
        if (r == NULL)
            return -1;
        Py_DECREF(r);
        return resync(run);
    }
walk:;
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    int v6 = acc_rd32(b + 4) == 2;
    Py_ssize_t off = v6 ? 24 : 12;
    uint32_t sub_agent = acc_rd32(b + off), seq = acc_rd32(b + off + 4),
             uptime = acc_rd32(b + off + 8), nsamples = acc_rd32(b + off + 12);
    off += 16;
    desc_t local[DESCS_ON_STACK], *descs = local;
    if (nsamples > DESCS_ON_STACK &&
        (descs = PyMem_Calloc(nsamples, sizeof(desc_t))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    uint32_t nd = 0;
    int rc = -1;
    PyObject *agent = acc_agent_str(b + 8, v6);
    if (agent == NULL)
        goto done;
    /* phase 1, as decode_datagram: every sample, before anything is counted */
    for (uint32_t k = 0; k < nsamples; k++) {
        uint32_t tag = acc_rd32(b + off), length = acc_rd32(b + off + 4);
        off += 8;
        Py_ssize_t end = off + (Py_ssize_t)length;
        const unsigned char *p = b + off;
        desc_t *d = &descs[nd];
        d->obj = NULL;
        if (tag == 1) {
            uint32_t src_id = acc_rd32(p + 4), inp = acc_rd32(p + 20), out = acc_rd32(p + 24);
            *d = (desc_t){D_FLOW, 1, acc_rd32(p), src_id >> 24, src_id & 0xFFFFFF, acc_rd32(p + 8),
                          acc_rd32(p + 12), acc_rd32(p + 16), inp >> 30, inp & 0x3FFFFFFF,
                          out >> 30, out & 0x3FFFFFFF, acc_rd32(p + SFLOW_FLOW_SAMPLE_NREC), off + SFLOW_FLOW_SAMPLE_SIZE, end,
                          NULL};
        } else if (tag == 3) {
            *d = (desc_t){D_FLOW, 3, acc_rd32(p), acc_rd32(p + 4), acc_rd32(p + 8),
                          acc_rd32(p + 12), acc_rd32(p + 16), acc_rd32(p + 20), acc_rd32(p + 24),
                          acc_rd32(p + 28), acc_rd32(p + 32), acc_rd32(p + 36), acc_rd32(p + SFLOW_FLOW_SAMPLE_EXPANDED_NREC),
                          off + SFLOW_FLOW_SAMPLE_EXPANDED_SIZE, end, NULL};
        } else if (tag == 2 && length >= SFLOW_COUNTERS_SAMPLE_SIZE &&
                   acc_rd32(p + SFLOW_COUNTERS_SAMPLE_NREC) <= SFLOW_MAX_RECORDS) {
            /* datagram._sample's checks pass: it makes the object later, if needed */
            uint32_t src_id = acc_rd32(p + 4);
            *d = (desc_t){D_COUNTER, 2, acc_rd32(p), src_id >> 24, src_id & 0xFFFFFF, 0, 0, 0, 0,
                          0, 0, 0, acc_rd32(p + SFLOW_COUNTERS_SAMPLE_NREC), off + SFLOW_COUNTERS_SAMPLE_SIZE,
                          end, NULL};
        } else if (tag == 4 && length >= SFLOW_COUNTERS_SAMPLE_EXPANDED_SIZE &&
                   acc_rd32(p + SFLOW_COUNTERS_SAMPLE_EXPANDED_NREC) <= SFLOW_MAX_RECORDS) {
            *d = (desc_t){D_COUNTER, 4, acc_rd32(p), acc_rd32(p + 4), acc_rd32(p + 8), 0, 0, 0, 0,
                          0, 0, 0, acc_rd32(p + SFLOW_COUNTERS_SAMPLE_EXPANDED_NREC),
                          off + SFLOW_COUNTERS_SAMPLE_EXPANDED_SIZE, end, NULL};
        } else {
            PyObject *s = acc_py_sample(data, tag, off, end);
            if (s == NULL) {
                if (PyErr_ExceptionMatches(acc_decode_error)) {
                    /* decode_datagram raises it: the datagram counts as a decode error */
                    PyObject *type, *exc, *tb;
                    PyErr_Fetch(&type, &exc, &tb);
                    PyErr_NormalizeException(&type, &exc, &tb);
                    Py_XDECREF(type);
                    Py_XDECREF(tb);
                    run->datagrams++;
                    run->bytes += (unsigned long long)n;
                    PyObject *r = exc == NULL ? NULL
                        : AROUND(run, PyObject_CallFunctionObjArgs(self->decode_failed, src, exc,
                                                                   NULL));
                    Py_XDECREF(exc);
                    Py_XDECREF(r);
                    rc = r == NULL ? -1 : resync(run);
                    goto done;
                }
                /* the Python walker rewords anything else: let it */
                PyErr_Clear();
                release(descs, nd);
                nd = 0;
                self->python_datagrams++;
                PyObject *r = AROUND(run, PyObject_CallFunctionObjArgs(self->fallback, data, src,
                                                                        now, NULL));
                Py_XDECREF(r);
                rc = r == NULL ? -1 : resync(run);
                goto done;
            }
            if (s == Py_None) {
                Py_DECREF(s);
                off = end;
                continue;
            }
            d->what = D_OBJ;
            d->obj = s;
            nd++;
            off = end;
            if (PyObject_SetAttr(s, s_agent, agent) < 0)
                goto done;
            continue;
        }
        nd++;
        off = end;
    }
    run->datagrams++;
    run->bytes += (unsigned long long)PyBytes_GET_SIZE(data);
    /* the agent: known, admitted now, or refused (the table is full) */
    PyObject *rec = PyDict_GetItemWithError(self->by_address, agent);   /* borrowed */
    if (rec == NULL) {
        if (PyErr_Occurred())
            goto done;
        PyObject *admitted = AROUND(run, PyObject_CallFunctionObjArgs(self->admit, agent, now,
                                                                       NULL));
        if (admitted == NULL || resync(run) < 0) {
            Py_XDECREF(admitted);
            goto done;
        }
        Py_DECREF(admitted);    /* the table keeps it */
        if (admitted == Py_None) {
            rc = 0;
            goto done;
        }
        if ((rec = PyDict_GetItemWithError(self->by_address, agent)) == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_RuntimeError, "Ingest: admit() did not add the agent");
            goto done;
        }
    }
    if (!PyObject_TypeCheck(rec, &AgentRecordType)) {
        PyErr_SetString(PyExc_TypeError, "Ingest: the agent table must hold AgentRecords");
        goto done;
    }
    Py_INCREF(rec);
    AgentRecord *r = (AgentRecord *)rec;
    acc_agent_datagram(r, sub_agent, seq, uptime, now_d);
    if (acc_agent_source(r, src) < 0)
        goto done_rec;
    for (uint32_t i = 0; i < nd; i++) {
        const desc_t *d = &descs[i];
        if ((d->what == D_FLOW ? acc_agent_sample(r, 0, d->cls, d->idx, d->seq, d->drops)
             : d->what == D_COUNTER ? acc_agent_sample(r, 1, d->cls, d->idx, d->seq, 0)
             : track_obj(r, d->obj)) < 0)
            goto done_rec;
    }
    /* phase 2: every sample to its readers */
    for (uint32_t i = 0; i < nd; i++) {
        const desc_t *d = &descs[i];
        if (d->what == D_FLOW) {
            run->nflow++;
            if (!run->cfg.fast) {
                if (flow_python(run, d, data, agent, now, rec) < 0 || resync(run) < 0)
                    goto done_rec;
                continue;
            }
            PyObject *ds = acc_data_source(d->cls, d->idx);
            if (ds == NULL)
                goto done_rec;
            int e = flow_fast(run, d, data, b, n, agent, ds, now, rec);
            Py_DECREF(ds);
            if (e < 0)
                goto done_rec;
            continue;
        }
        if (d->what == D_COUNTER) {
            run->ncounter++;
            int e = counter(run, d, data, b, agent, now, now_d, rec);
            if (e < 0 || resync(run) < 0)
                goto done_rec;
            continue;
        }
        PyObject *kind = PyObject_GetAttr(d->obj, s_kind);
        if (kind == NULL)
            goto done_rec;
        PyObject *handlers;
        if (PyUnicode_Check(kind) && PyUnicode_Compare(kind, s_flow) == 0) {
            run->nflow++;
            handlers = run->cfg.flow_handlers;
        } else if (PyUnicode_Check(kind) && PyUnicode_Compare(kind, s_counter) == 0) {
            run->ncounter++;
            handlers = run->cfg.counter_handlers;
        } else {
            if (PyUnicode_Check(kind) && PyUnicode_Compare(kind, s_discard) == 0)
                run->ndiscard++;
            else
                run->nother++;
            handlers = run->cfg.other_handlers;
        }
        Py_DECREF(kind);
        if (call_handlers(run, handlers, d->obj, now, rec) < 0 || resync(run) < 0)
            goto done_rec;
    }
    rc = 0;
done_rec:
    Py_DECREF(rec);
done:
    Py_XDECREF(agent);
    release(descs, nd);
    if (descs != local)
        PyMem_Free(descs);
    return rc;
}

/* ------------------------------------------------------------------ the type */

static PyObject *ingest_run(Ingest *self, PyObject *batch)
{
    if (!PyList_Check(batch) && !PyTuple_Check(batch)) {
        PyErr_SetString(PyExc_TypeError, "run(batch): a list of (data, src, now)");
        return NULL;
    }
    if (!acc_walk_ready()) {
        PyErr_SetString(PyExc_RuntimeError, "Ingest: the decoder is not set up");
        return NULL;
    }
    Run run;
    memset(&run, 0, sizeof run);
    run.self = self;
    Py_INCREF(self);
    Py_INCREF(batch);
    int rc = cfg_load(self, &run.cfg) < 0 || skip_in(&run) < 0 ? -1 : 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(batch); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(batch, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3) {
            PyErr_SetString(PyExc_TypeError, "run(batch): items must be (data, src, now)");
            rc = -1;
            break;
        }
        Py_INCREF(item);
        rc = datagram(&run, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1),
                      PyTuple_GET_ITEM(item, 2));
        Py_DECREF(item);
    }
    /* counts and the skip count go back also when an exception propagates */
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    if (skip_out(&run) < 0 || commit_stats(&run) < 0) {
        if (et == NULL)
            PyErr_Fetch(&et, &ev, &etb);
        else
            PyErr_Clear();
        rc = -1;
    }
    PyErr_Restore(et, ev, etb);
    Py_XDECREF(run.cfg.tuple);
    Py_XDECREF(run.rate_obj);
    Py_DECREF(batch);
    Py_DECREF(self);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *ingest_counts(Ingest *self, PyObject *unused)
{
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K}", "c_flow_samples", self->c_flows,
                         "python_flow_samples", self->python_flows,
                         "c_counter_samples", self->c_counters,
                         "python_counter_samples", self->python_counters,
                         "python_datagrams", self->python_datagrams);
}

static PyObject *ingest_invalidate(Ingest *self, PyObject *unused)
{
    self->stale = 1;
    Py_RETURN_NONE;
}

static PyObject *ingest_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *names[] = {"config", "fallback", "decode_failed", "handler_failed", "admit",
                            "by_address", "stats", "fastpath_api", NULL};
    PyObject *config, *fallback, *decode_failed, *handler_failed, *admit, *by_address, *stats,
        *capsule;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOO!OO:Ingest", names, &config, &fallback,
                                     &decode_failed, &handler_failed, &admit, &PyDict_Type,
                                     &by_address, &stats, &capsule))
        return NULL;
    FpApi *fp = PyCapsule_GetPointer(capsule, FP_API_CAPSULE);
    if (fp == NULL)
        return NULL;
    if (fp->version != FP_API_VERSION) {
        PyErr_SetString(PyExc_ImportError, "Ingest: engine.flows._fastpath does not match");
        return NULL;
    }
    Ingest *self = (Ingest *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->config = Py_NewRef(config);
    self->fallback = Py_NewRef(fallback);
    self->decode_failed = Py_NewRef(decode_failed);
    self->handler_failed = Py_NewRef(handler_failed);
    self->admit = Py_NewRef(admit);
    self->by_address = Py_NewRef(by_address);
    self->stats = Py_NewRef(stats);
    self->fp = fp;
    self->stale = 1;
    return (PyObject *)self;
}

static int ingest_traverse(Ingest *self, visitproc visit, void *arg)
{
    Py_VISIT(self->config);
    Py_VISIT(self->fallback);
    Py_VISIT(self->decode_failed);
    Py_VISIT(self->handler_failed);
    Py_VISIT(self->admit);
    Py_VISIT(self->by_address);
    Py_VISIT(self->stats);
    return 0;
}

static int ingest_clear(Ingest *self)
{
    Py_CLEAR(self->config);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->decode_failed);
    Py_CLEAR(self->handler_failed);
    Py_CLEAR(self->admit);
    Py_CLEAR(self->by_address);
    Py_CLEAR(self->stats);
    return 0;
}

static void ingest_dealloc(Ingest *self)
{
    PyObject_GC_UnTrack(self);
    ingest_clear(self);
    acc_counters_free(self->cc);
    self->cc = NULL;
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef ingest_methods[] = {
    {"run", (PyCFunction)ingest_run, METH_O,
     "run(batch): ingest [(datagram bytes, source address, receive time), ...]"},
    {"counts", (PyCFunction)ingest_counts, METH_NOARGS,
     "counts() -> {c_flow_samples, python_flow_samples, python_datagrams}: the routes taken"},
    {"invalidate", (PyCFunction)ingest_invalidate, METH_NOARGS,
     "invalidate(): the configuration changed; fetched again before the next sample"},
    {NULL}};

static PyTypeObject IngestType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "engine.sflow._accel.Ingest",
    .tp_basicsize = sizeof(Ingest),
    .tp_dealloc = (destructor)ingest_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Ingest(config, fallback, decode_failed, handler_failed, admit, by_address, "
              "stats, fastpath_api): the batch ingest path (engine/ingest.py)",
    .tp_traverse = (traverseproc)ingest_traverse,
    .tp_clear = (inquiry)ingest_clear,
    .tp_methods = ingest_methods,
    .tp_new = ingest_new,
};

int acc_ingest_init(PyObject *module)
{
    struct { PyObject **dst; const char *s; } names[] = {
        {&s_skip, "_skip"}, {&s_agent, "agent"}, {&s_kind, "kind"}, {&s_flow, "flow"},
        {&s_counter, "counter"}, {&s_discard, "discard"}, {&s_ds_class, "ds_class"},
        {&s_ds_index, "ds_index"}, {&s_seq, "seq"}, {&s_drops, "drops"},
        {&s_datagrams, "datagrams"}, {&s_bytes, "bytes"}, {&s_flow_samples, "flow_samples"},
        {&s_counter_samples, "counter_samples"}, {&s_discard_samples, "discard_samples"},
        {&s_other_samples, "other_samples"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((*names[i].dst = PyUnicode_InternFromString(names[i].s)) == NULL)
            return -1;
    if (acc_counters_init() < 0 || PyType_Ready(&IngestType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "Ingest", (PyObject *)&IngestType);
}
