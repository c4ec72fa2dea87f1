/* Optional C fast path for the per-sample flow pipeline (see docs/flows.md, "The C pipeline").
 *
 * pipeline.build() describes the active definitions as nested tuples (key slots, definitions,
 * filter trees) and Pipeline(...) turns that into flat arrays once per rebuild. A call runs the
 * same steps, in the same order, as the Python function pipeline.py generates for the same
 * definitions: key slots computed lazily at most once per sample and shared by all
 * definitions, filters, the decayed update of plain sums with the same double operations, and
 * calls back into Python for everything that is not hot or not simple (key functions, regular
 * expressions, new flows, thresholds, avg/count/min/max values, errors). The generated Python
 * function stays the fallback and the oracle of tests/test_flows_fastpath.py.
 *
 * Every object the arrays point to is owned by the description tuples the Pipeline keeps, so
 * the arrays hold borrowed pointers and the GC only has to see those tuples.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <string.h>
#include "_fastpath_api.h"

static PyObject *s_entries, *s_get, *zero_f, *idx0, *idx1, *idx2;

/* SLOT_*, F_*, TEST_*: generated from engine/flows/pipeline.py OPCODES */
typedef struct {
    int kind;
    PyObject *obj;          /* interned attribute name or extractor(attrs) */
    int id;                 /* SLOT_ATTR: the attribute's number in a decoder's view (FpView) */
    /* SLOT_OR (or:a:b...): the first of the slots at ints[first .. first + n) that is not None;
     * SLOT_NULL (null:a:default): slot `inner`, or `dflt` when that is None */
    int first, n;
    PyObject *dflt;
    /* SLOT_TABLE: a key function whose answer for a known value sits in a dict (group:'s memo,
     * map:'s index): value = slot inner; None if it is None, else table[value] when present,
     * else None if complete, else obj(attrs) (the key function itself). The table is
     * getattr(holder, attr), or holder itself when attr is NULL (a dict never rebound). */
    int inner, complete;
    PyObject *holder, *attr;
} Slot;

typedef struct {
    int op;
    int nkids, kids;        /* kids: offset of the child node indices in Pipeline.ints */
    int slot, neg, has_null, test;
    PyObject *obj;          /* TEST_EQ: the literal, TEST_IN: frozenset, TEST_RE: fullmatch */
} FNode;

typedef struct {
    PyObject *table;
    PyObject *tdict;        /* table.__dict__: FlowTable.clear() rebinds .entries, so it is
                               read per sample rather than captured at build time */
    int filter;             /* root node or -1 */
    int nkeys, keys;        /* slot indices, offset in ints */
    int fast;
    /* fast (plain sum): */
    int vslot, int_attr;
    double inv_t, neg_inv_t;
    PyObject *inv_t_obj, *neg_inv_t_obj, *new_entry, *th, *check;
    int th_is_float;
    double th_d;
    /* general (avg/count/min/max, values): */
    int nvals, vslots, vchecks;
    PyObject *update;
    /* fast: a flow-key tuple of this definition's size, reused for the cache lookups (owned,
     * out of the GC's sight; in use while its reference count is above 1) */
    PyObject *scratch;
} Def;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *slots_desc, *defs_desc, *on_error, *exp, *source;
    Slot *slots;
    int nslots;
    FNode *nodes;
    int nnodes, cap_nodes;
    int *ints;
    int nints, cap_ints;
    Def *defs;
    int ndefs;
} Pipeline;

/* Per call: slot values are strong references (a key function may mutate attrs), NULL while
 * not computed; a failed computation leaves NULL so the next definition retries and fails the
 * same way, as the generated code does. */
typedef struct {
    PyObject *attrs, *get, *agent;   /* get: attrs.get when attrs is not exactly a dict */
    PyObject **vals;
    FpView *view;                    /* set instead of attrs: a decoder's view of them */
} Ctx;

/* the attributes as a dict for a key function written in Python (borrowed) */
static PyObject *attrs_dict(Ctx *c)
{
    return c->view != NULL ? c->view->dict(c->view) : c->attrs;
}

/* ------------------------------------------------------------------ per sample */

static PyObject *slot_value(Pipeline *p, Ctx *c, int i)   /* borrowed from c->vals */
{
    PyObject *v = c->vals[i];
    if (v != NULL)
        return v;
    Slot *s = &p->slots[i];
    if (s->kind == SLOT_ATTR && c->view != NULL) {
        v = c->view->get(c->view, s->id, s->obj);
    } else if (s->kind == SLOT_ATTR) {
        if (c->get == NULL) {
            v = PyDict_GetItemWithError(c->attrs, s->obj);
            if (v == NULL) {
                if (PyErr_Occurred())
                    return NULL;
                v = Py_None;
            }
            Py_INCREF(v);
        } else {
            v = PyObject_CallOneArg(c->get, s->obj);
        }
    } else if (s->kind == SLOT_AGENT) {
        v = Py_NewRef(c->agent);
    } else if (s->kind == SLOT_TABLE) {
        PyObject *k = slot_value(p, c, s->inner);
        if (k == NULL)
            return NULL;
        if (k == Py_None) {
            v = Py_NewRef(Py_None);
        } else {
            /* read per sample: the stores rebind the dict when a group or map is redefined */
            PyObject *t = s->attr ? PyObject_GetAttr(s->holder, s->attr) : Py_NewRef(s->holder);
            if (t == NULL)
                return NULL;
            int dict = PyDict_CheckExact(t);
            v = dict ? PyDict_GetItemWithError(t, k) : NULL;
            Py_XINCREF(v);
            Py_DECREF(t);
            if (v == NULL) {
                if (PyErr_Occurred())
                    return NULL;
                /* anything but a plain dict: let the key function answer */
                if (s->complete && dict) {
                    v = Py_NewRef(Py_None);
                } else {
                    PyObject *d = attrs_dict(c);
                    v = d != NULL ? PyObject_CallOneArg(s->obj, d) : NULL;
                }
            }
        }
    } else if (s->kind == SLOT_OR) {
        /* or_(): the arguments in order, the first that is not None */
        v = NULL;
        for (int j = 0; j < s->n; j++) {
            PyObject *x = slot_value(p, c, p->ints[s->first + j]);
            if (x == NULL)
                return NULL;
            if (x != Py_None) {
                v = Py_NewRef(x);
                break;
            }
        }
        if (v == NULL)
            v = Py_NewRef(Py_None);
    } else if (s->kind == SLOT_NULL) {
        PyObject *x = slot_value(p, c, s->inner);
        if (x == NULL)
            return NULL;
        v = Py_NewRef(x == Py_None ? s->dflt : x);
    } else {
        PyObject *d = attrs_dict(c);
        v = d != NULL ? PyObject_CallOneArg(s->obj, d) : NULL;
    }
    c->vals[i] = v;
    return v;
}

static int truth_of(PyObject *r)   /* steals r */
{
    if (r == NULL)
        return -1;
    int t = r == Py_True ? 1 : r == Py_False ? 0 : PyObject_IsTrue(r);
    Py_DECREF(r);
    return t;
}

/* 1 true, 0 false, -1 error: the truth of filters.compile_expr's expression for the node */
static int eval(Pipeline *p, int n, Ctx *c)
{
    const FNode *f = &p->nodes[n];
    const int *kids = p->ints + f->kids;
    int r;
    switch (f->op) {
    case F_AND:
        for (int k = 0; k < f->nkids; k++)
            if ((r = eval(p, kids[k], c)) <= 0)
                return r;
        return 1;
    case F_OR:
        for (int k = 0; k < f->nkids; k++)
            if ((r = eval(p, kids[k], c)) != 0)
                return r;
        return 0;
    case F_NOT:
        r = eval(p, kids[0], c);
        return r < 0 ? -1 : !r;
    }
    PyObject *v = slot_value(p, c, f->slot);
    if (v == NULL)
        return -1;
    if (v == Py_None) {
        /* None == literal, None in literal set and the regex guard are all false */
        r = f->has_null;
    } else if (f->test == TEST_EQ) {
        r = truth_of(PyObject_RichCompare(v, f->obj, Py_EQ));
    } else if (f->test == TEST_IN) {
        r = PySequence_Contains(f->obj, v);
    } else if (f->test == TEST_RE) {
        PyObject *s = PyUnicode_CheckExact(v) ? Py_NewRef(v) : PyObject_Str(v);
        if (s == NULL)
            return -1;
        PyObject *m = PyObject_CallOneArg(f->obj, s);
        Py_DECREF(s);
        if (m == NULL)
            return -1;
        r = m != Py_None;
        Py_DECREF(m);
    } else {
        r = 0;
    }
    if (r < 0)
        return -1;
    return f->neg ? !r : r;
}

static PyObject *flow_key(Pipeline *p, const Def *d, Ctx *c, PyObject *ds)
{
    PyObject *fk = PyTuple_New(2 + d->nkeys);
    if (fk == NULL)
        return NULL;
    PyTuple_SET_ITEM(fk, 0, Py_NewRef(c->agent));
    PyTuple_SET_ITEM(fk, 1, Py_NewRef(ds));
    const int *keys = p->ints + d->keys;
    for (int j = 0; j < d->nkeys; j++)
        PyTuple_SET_ITEM(fk, 2 + j, Py_NewRef(c->vals[keys[j]]));
    return fk;
}

/* x * rate as the generated code computes it, when both are machine numbers: an exact int
 * product, or a float times the rate converted the way float.__mul__ converts an int. */
typedef struct {
    int is_int;
    long long i;
    double d;        /* the value as int.__float__ / float arithmetic sees it */
} Num;

static int scale_fast(PyObject *x, PyObject *rate, Num *s)
{
    int of;
    if (!PyLong_CheckExact(rate))
        return 0;
    long long r = PyLong_AsLongLongAndOverflow(rate, &of);
    if (of || (r == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (PyLong_CheckExact(x)) {
        long long xi = PyLong_AsLongLongAndOverflow(x, &of);
        if (of || (xi == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        if (__builtin_mul_overflow(xi, r, &s->i))
            return 0;
        s->is_int = 1;
        /* both this cast and PyLong_AsDouble round to nearest, ties to even */
        s->d = (double)s->i;
        return 1;
    }
    if (PyFloat_CheckExact(x)) {
        s->is_int = 0;
        s->d = PyFloat_AS_DOUBLE(x) * (double)r;
        return 1;
    }
    return 0;
}

static PyObject *num_obj(const Num *s)
{
    return s->is_int ? PyLong_FromLongLong(s->i) : PyFloat_FromDouble(s->d);
}

/* A float only the list references can be updated in place: nobody can observe the change,
 * and it saves an allocation per update. */
static int set_float(PyObject *list, Py_ssize_t i, double v)
{
    PyObject *old = PyList_GET_ITEM(list, i);
#ifndef Py_GIL_DISABLED
    if (Py_REFCNT(old) == 1 && PyFloat_CheckExact(old)) {
        ((PyFloatObject *)old)->ob_fval = v;
        return 0;
    }
#endif
    PyObject *f = PyFloat_FromDouble(v);
    if (f == NULL)
        return -1;
    PyList_SET_ITEM(list, i, f);
    Py_DECREF(old);
    return 0;
}

static int set_item(PyObject *e, PyObject *idx, PyObject *v)   /* steals v */
{
    if (v == NULL)
        return -1;
    int r = PyObject_SetItem(e, idx, v);
    Py_DECREF(v);
    return r;
}

/* The generated update with Python objects, operation by operation (any entry, any number
 * types): used when the double path does not apply. */
static int update_objects(Pipeline *p, const Def *d, PyObject *e, PyObject *s, PyObject *now)
{
    PyObject *e1 = PyObject_GetItem(e, idx1);
    if (e1 == NULL)
        return -1;
    PyObject *dt = PyNumber_Subtract(now, e1);
    Py_DECREF(e1);
    if (dt == NULL)
        return -1;
    int gt = PyObject_RichCompareBool(dt, zero_f, Py_GT);
    if (gt < 0) {
        Py_DECREF(dt);
        return -1;
    }
    PyObject *e0 = PyObject_GetItem(e, idx0);
    if (e0 == NULL) {
        Py_DECREF(dt);
        return -1;
    }
    PyObject *r = NULL;
    if (gt) {
        PyObject *arg = PyNumber_Multiply(dt, d->neg_inv_t_obj);
        PyObject *ex = arg ? PyObject_CallOneArg(p->exp, arg) : NULL;
        Py_XDECREF(arg);
        PyObject *m = ex ? PyNumber_Multiply(e0, ex) : NULL;
        Py_XDECREF(ex);
        PyObject *si = m ? PyNumber_Multiply(s, d->inv_t_obj) : NULL;
        r = si ? PyNumber_Add(m, si) : NULL;
        Py_XDECREF(m);
        Py_XDECREF(si);
    } else {
        PyObject *si = PyNumber_Multiply(s, d->inv_t_obj);
        r = si ? PyNumber_InPlaceAdd(e0, si) : NULL;
        Py_XDECREF(si);
    }
    Py_DECREF(e0);
    Py_DECREF(dt);
    if (set_item(e, idx0, r) < 0)
        return -1;
    if (gt && PyObject_SetItem(e, idx1, now) < 0)
        return -1;
    PyObject *e2 = PyObject_GetItem(e, idx2);
    if (e2 == NULL)
        return -1;
    PyObject *t = PyNumber_InPlaceAdd(e2, s);
    Py_DECREF(e2);
    return set_item(e, idx2, t);
}

/* A new plain-sum entry holds numbers only, and only ever will ([rate, last, total, start]
 * written by this code and FlowTable): it cannot be part of a reference cycle, so the garbage
 * collector need not visit it. With 100,000s of flows that is most of what a full collection
 * would walk (and the pause REST requests would wait for). */
static void untrack_numbers(PyObject *e)
{
    if (!PyList_CheckExact(e) || !PyObject_GC_IsTracked(e))
        return;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(e); i++) {
        PyObject *x = PyList_GET_ITEM(e, i);
        if (!PyFloat_CheckExact(x) && !PyLong_CheckExact(x))
            return;
    }
    PyObject_GC_UnTrack(e);
}

/* entries.get(fk): 1 found (*out new reference), 0 missing, -1 error */
static int lookup(const Def *d, PyObject *fk, PyObject **out)
{
    PyObject *entries = PyDict_GetItemWithError(d->tdict, s_entries);
    if (entries == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute 'entries'",
                         Py_TYPE(d->table)->tp_name);
        return -1;
    }
    Py_INCREF(entries);   /* a key's __eq__ could rebind table.entries during the lookup */
    PyObject *e;
    if (PyDict_CheckExact(entries)) {
        e = PyDict_GetItemWithError(entries, fk);
        Py_XINCREF(e);
    } else {
        e = PyObject_CallMethodOneArg(entries, s_get, fk);
        if (e == Py_None)
            Py_CLEAR(e);
    }
    Py_DECREF(entries);
    if (e == NULL)
        return PyErr_Occurred() ? -1 : 0;
    *out = e;
    return 1;
}

static int over_threshold(const Def *d, PyObject *e)
{
    PyObject *e0;
    if (PyList_CheckExact(e) && PyList_GET_SIZE(e) > 0)
        e0 = Py_NewRef(PyList_GET_ITEM(e, 0));
    else if ((e0 = PyObject_GetItem(e, idx0)) == NULL)
        return -1;
    int r;
    if (d->th_is_float && PyFloat_CheckExact(e0))
        r = PyFloat_AS_DOUBLE(e0) > d->th_d;
    else
        r = PyObject_RichCompareBool(e0, d->th, Py_GT);
    Py_DECREF(e0);
    return r;
}

static PyObject *call3(PyObject *fn, PyObject *a, PyObject *b, PyObject *c)
{
    PyObject *args[4] = {NULL, a, b, c};   /* args[0]: room for a bound method's self */
    return PyObject_Vectorcall(fn, args + 1, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

static PyObject *call4(PyObject *fn, PyObject *a, PyObject *b, PyObject *c, PyObject *d)
{
    PyObject *args[5] = {NULL, a, b, c, d};
    return PyObject_Vectorcall(fn, args + 1, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

/* The generated fast block for a plain sum value, from "s = x * rate" on. */
/* fk is the definition's scratch tuple (`scratch`): it is only looked up with; a copy is what
 * a new entry is stored under and what Python code gets to see */
static int update_sum(Pipeline *p, const Def *d, PyObject *fk, int scratch, PyObject *x,
                      PyObject *rate, PyObject *now)
{
    Num s = {0, 0, 0.0};   /* set by scale_fast; read only when it succeeded */
    PyObject *sobj = NULL, *e = NULL, *t, *own = NULL;
    int fast = scale_fast(x, rate, &s), r = -1;
    if (!fast && (sobj = PyNumber_Multiply(x, rate)) == NULL)
        return -1;
    int found = lookup(d, fk, &e);
    if (found < 0)
        goto done;
    if (scratch && (found == 0 || d->th != NULL)) {
        /* a copy (not PyTuple_GetSlice, which hands a whole tuple back itself) */
        Py_ssize_t n = PyTuple_GET_SIZE(fk);
        if ((own = PyTuple_New(n)) == NULL)
            goto done;
        for (Py_ssize_t i = 0; i < n; i++)
            PyTuple_SET_ITEM(own, i, Py_NewRef(PyTuple_GET_ITEM(fk, i)));
        fk = own;
    }
    if (found == 0) {
        if (sobj == NULL && (sobj = num_obj(&s)) == NULL)
            goto done;
        if ((e = call3(d->new_entry, fk, sobj, now)) == NULL)
            goto done;
        untrack_numbers(e);
    } else if (fast && PyFloat_CheckExact(now) && PyList_CheckExact(e) &&
               PyList_GET_SIZE(e) >= 3 && PyFloat_CheckExact(PyList_GET_ITEM(e, 0)) &&
               PyFloat_CheckExact(PyList_GET_ITEM(e, 1))) {
        /* the same double operations in the same order as the generated code */
        double dt = PyFloat_AS_DOUBLE(now) - PyFloat_AS_DOUBLE(PyList_GET_ITEM(e, 1));
        double e0 = PyFloat_AS_DOUBLE(PyList_GET_ITEM(e, 0));
        if (dt > 0.0) {
            if (set_float(e, 0, e0 * exp(dt * d->neg_inv_t) + s.d * d->inv_t) < 0)
                goto done;
            PyObject *old = PyList_GET_ITEM(e, 1);
            PyList_SET_ITEM(e, 1, Py_NewRef(now));
            Py_DECREF(old);
        } else if (set_float(e, 0, e0 + s.d * d->inv_t) < 0) {
            goto done;
        }
        PyObject *e2 = PyList_GET_ITEM(e, 2);
        long long a, sum;
        int of;
        if (PyFloat_CheckExact(e2)) {
            if (set_float(e, 2, PyFloat_AS_DOUBLE(e2) + s.d) < 0)
                goto done;
        } else if (s.is_int && PyLong_CheckExact(e2) &&
                   ((a = PyLong_AsLongLongAndOverflow(e2, &of)) != -1 || !PyErr_Occurred()) &&
                   !of && !__builtin_add_overflow(a, s.i, &sum)) {
            /* new_entry stores an int total for int values: it stays an exact int */
            if ((t = PyLong_FromLongLong(sum)) == NULL)
                goto done;
            PyList_SET_ITEM(e, 2, t);
            Py_DECREF(e2);
        } else {
            PyErr_Clear();
            if (sobj == NULL && (sobj = num_obj(&s)) == NULL)
                goto done;
            Py_INCREF(e2);
            t = PyNumber_InPlaceAdd(e2, sobj);
            Py_DECREF(e2);
            if (set_item(e, idx2, t) < 0)
                goto done;
        }
    } else {
        if (sobj == NULL && (sobj = num_obj(&s)) == NULL)
            goto done;
        if (update_objects(p, d, e, sobj, now) < 0)
            goto done;
    }
    if (d->th != NULL) {
        int over = over_threshold(d, e);
        if (over < 0)
            goto done;
        if (over) {
            if ((t = call3(d->check, fk, e, now)) == NULL)
                goto done;
            Py_DECREF(t);
        }
    }
    r = 0;
done:
    Py_XDECREF(e);
    Py_XDECREF(sobj);
    Py_XDECREF(own);
    return r;
}

static int run_def(Pipeline *p, const Def *d, Ctx *c, PyObject *ds, PyObject *rate,
                   PyObject *now)
{
    int r;
    if (d->filter >= 0 && (r = eval(p, d->filter, c)) <= 0)
        return r;
    const int *keys = p->ints + d->keys;
    for (int j = 0; j < d->nkeys; j++)      /* every key first, as the generated code */
        if (slot_value(p, c, keys[j]) == NULL)
            return -1;
    for (int j = 0; j < d->nkeys; j++)
        if (c->vals[keys[j]] == Py_None)
            return 0;
    if (d->fast) {
        PyObject *x = slot_value(p, c, d->vslot);
        if (x == NULL)
            return -1;
        if (x == Py_None || (!d->int_attr && !PyLong_CheckExact(x) && !PyFloat_CheckExact(x)))
            return 0;
        PyObject *fk = d->scratch;
        int scratch = fk != NULL && Py_REFCNT(fk) == 1;
        if (scratch) {
            /* the key's values into the reused tuple (what it held from the last sample
             * goes) and the tuple marked in use, should a key's __eq__ run this again */
            const int *keys = p->ints + d->keys;
            PyObject **items = ((PyTupleObject *)fk)->ob_item;
            Py_SETREF(items[0], Py_NewRef(c->agent));
            Py_SETREF(items[1], Py_NewRef(ds));
            for (int j = 0; j < d->nkeys; j++)
                Py_SETREF(items[2 + j], Py_NewRef(c->vals[keys[j]]));
            Py_INCREF(fk);
        } else if ((fk = flow_key(p, d, c, ds)) == NULL) {
            return -1;
        }
        r = update_sum(p, d, fk, scratch, x, rate, now);
        Py_DECREF(fk);
        return r;
    }
    const int *vs = p->ints + d->vslots, *checks = p->ints + d->vchecks;
    PyObject *xs = PyTuple_New(d->nvals);
    if (xs == NULL)
        return -1;
    for (int j = 0; j < d->nvals; j++) {
        PyObject *x = slot_value(p, c, vs[j]);
        if (x == NULL) {
            Py_DECREF(xs);
            return -1;
        }
        if (checks[j] && x != Py_None && !PyLong_CheckExact(x) && !PyFloat_CheckExact(x))
            x = Py_None;
        PyTuple_SET_ITEM(xs, j, Py_NewRef(x));
    }
    r = 0;
    if (PyTuple_GET_ITEM(xs, 0) != Py_None) {
        PyObject *fk = flow_key(p, d, c, ds), *t = NULL;
        if (fk != NULL) {
            t = call4(d->update, fk, xs, rate, now);
            Py_DECREF(fk);
        }
        if (t == NULL)
            r = -1;
        Py_XDECREF(t);
    }
    Py_DECREF(xs);
    return r;
}

/* "except Exception as exc: on_error(table, exc)"; anything else propagates. */
static int report(Pipeline *p, const Def *d)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return -1;
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException();
#else
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (tb != NULL && exc != NULL)
        PyException_SetTraceback(exc, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
#endif
    if (exc == NULL)
        return -1;
    /* as inside an except block (the interpreter's PUSH_EXC_INFO / POP_EXCEPT): sys.exception()
     * is exc and a failure chains to it; then the current frame's own handled exception is
     * put back. (PyErr_GetHandledException() would give the topmost one, maybe an outer
     * frame's, which a generator running this must not keep as its own.) */
    _PyErr_StackItem *ei = PyThreadState_Get()->exc_info;
    PyObject *prev = ei->exc_value;     /* owned, handed back below */
    ei->exc_value = Py_NewRef(exc);
    PyObject *args[3] = {NULL, d->table, exc};
    PyObject *r = PyObject_Vectorcall(p->on_error, args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                      NULL);
    ei = PyThreadState_Get()->exc_info;
    Py_XSETREF(ei->exc_value, prev);
    Py_DECREF(exc);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

#define VALS_ON_STACK 64

/* Every definition over one sample: c->attrs (or c->view) and c->agent set. 0 or -1. */
static int run_sample(Pipeline *p, Ctx *c, PyObject *ds, PyObject *rate, PyObject *now)
{
    PyObject *local[VALS_ON_STACK];
    int n = p->nslots, r = -1;
    c->get = NULL;
    c->vals = local;
    if (n > VALS_ON_STACK) {
        if ((c->vals = PyMem_Calloc((size_t)n, sizeof(PyObject *))) == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    } else {
        memset(local, 0, sizeof(PyObject *) * (size_t)n);
    }
    /* definitions' callbacks run arbitrary code (event subscribers may redefine flows): keep
     * this object, and so its arrays, alive until the call returns */
    Py_INCREF(p);
    if (c->view == NULL && !PyDict_CheckExact(c->attrs) &&
        (c->get = PyObject_GetAttr(c->attrs, s_get)) == NULL)
        goto done;
    for (int i = 0; i < p->ndefs; i++) {
        const Def *d = &p->defs[i];
        if (run_def(p, d, c, ds, rate, now) < 0 && report(p, d) < 0)
            goto done;
    }
    r = 0;
done:
    for (int i = 0; i < n; i++)
        Py_XDECREF(c->vals[i]);
    if (c->vals != local)
        PyMem_Free(c->vals);
    Py_XDECREF(c->get);
    Py_DECREF(p);
    return r;
}

static PyObject *pipeline_call(PyObject *self, PyObject *const *args, size_t nargsf,
                               PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 5 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError,
                        "process() takes 5 positional arguments: attrs, agent, ds, rate, now");
        return NULL;
    }
    Ctx c = {args[0], NULL, args[1], NULL, NULL};
    if (run_sample((Pipeline *)self, &c, args[2], args[3], args[4]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyTypeObject PipelineType;

/* FpApi.run: the same call on a decoder's view of the attributes */
static int fp_run(PyObject *pipeline, FpView *view, PyObject *agent, PyObject *ds,
                  PyObject *rate, PyObject *now)
{
    if (Py_TYPE(pipeline) != &PipelineType) {
        PyErr_SetString(PyExc_TypeError, "fp_run: not a Pipeline");
        return -1;
    }
    Ctx c = {NULL, NULL, agent, NULL, view};
    return run_sample((Pipeline *)pipeline, &c, ds, rate, now);
}

/* ------------------------------------------------------------------ construction */

static int bad(const char *what)
{
    PyErr_Format(PyExc_TypeError, "Pipeline: malformed %s", what);
    return -1;
}

static int push_int(Pipeline *p, int v)
{
    if (p->nints == p->cap_ints) {
        int cap = p->cap_ints ? 2 * p->cap_ints : 64;
        int *a = PyMem_Realloc(p->ints, sizeof(int) * (size_t)cap);
        if (a == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        p->ints = a;
        p->cap_ints = cap;
    }
    p->ints[p->nints] = v;
    return p->nints++;
}

static int new_node(Pipeline *p)
{
    if (p->nnodes == p->cap_nodes) {
        int cap = p->cap_nodes ? 2 * p->cap_nodes : 16;
        FNode *a = PyMem_Realloc(p->nodes, sizeof(FNode) * (size_t)cap);
        if (a == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        p->nodes = a;
        p->cap_nodes = cap;
    }
    memset(&p->nodes[p->nnodes], 0, sizeof(FNode));
    return p->nnodes++;
}

static int small_int(PyObject *o, int lo, int hi, int *out)
{
    if (!PyLong_Check(o))
        return -1;
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int int_list(Pipeline *p, PyObject *t, int lo, int hi, int *off, int *count)
{
    if (!PyTuple_Check(t))
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(t);
    *off = p->nints;
    *count = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        int v;
        if (small_int(PyTuple_GET_ITEM(t, i), lo, hi, &v) < 0 || push_int(p, v) < 0)
            return -1;
    }
    return 0;
}

/* (0, kids) and, (1, kids) or, (2, kid) not, (3, slot, neg, has_null, test, obj) term */
static int parse_filter(Pipeline *p, PyObject *t, int depth)
{
    int op, n;
    if (depth > 10000 || !PyTuple_Check(t) || PyTuple_GET_SIZE(t) < 2 ||
        small_int(PyTuple_GET_ITEM(t, 0), F_AND, F_TERM, &op) < 0)
        return bad("filter");
    if ((n = new_node(p)) < 0)
        return -1;
    p->nodes[n].op = op;
    if (op == F_TERM) {
        int slot, neg, has_null, test;
        if (PyTuple_GET_SIZE(t) != 6 ||
            small_int(PyTuple_GET_ITEM(t, 1), 0, p->nslots - 1, &slot) < 0 ||
            (neg = PyObject_IsTrue(PyTuple_GET_ITEM(t, 2))) < 0 ||
            (has_null = PyObject_IsTrue(PyTuple_GET_ITEM(t, 3))) < 0 ||
            small_int(PyTuple_GET_ITEM(t, 4), TEST_NONE, TEST_RE, &test) < 0)
            return bad("filter term");
        PyObject *obj = PyTuple_GET_ITEM(t, 5);
        if ((test == TEST_IN && !PyAnySet_Check(obj)) ||
            (test == TEST_RE && !PyCallable_Check(obj)))
            return bad("filter term");
        FNode *f = &p->nodes[n];
        f->slot = slot;
        f->neg = neg;
        f->has_null = has_null;
        f->test = test;
        f->obj = obj;
        return n;
    }
    PyObject *kids = PyTuple_GET_ITEM(t, 1);
    if (op == F_NOT) {
        int k = parse_filter(p, kids, depth + 1);
        if (k < 0)
            return -1;
        int off = push_int(p, k);
        if (off < 0)
            return -1;
        p->nodes[n].kids = off;
        p->nodes[n].nkids = 1;
        return n;
    }
    if (!PyTuple_Check(kids) || PyTuple_GET_SIZE(kids) == 0)
        return bad("filter");
    Py_ssize_t nk = PyTuple_GET_SIZE(kids);
    int *idx = PyMem_Malloc(sizeof(int) * (size_t)nk);
    if (idx == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < nk; k++) {
        if ((idx[k] = parse_filter(p, PyTuple_GET_ITEM(kids, k), depth + 1)) < 0) {
            PyMem_Free(idx);
            return -1;
        }
    }
    /* children's own lists were appended while parsing them: ours goes after, contiguous */
    int off = p->nints;
    for (Py_ssize_t k = 0; k < nk; k++) {
        if (push_int(p, idx[k]) < 0) {
            PyMem_Free(idx);
            return -1;
        }
    }
    PyMem_Free(idx);
    p->nodes[n].kids = off;
    p->nodes[n].nkids = (int)nk;
    return n;
}

/* The number of attribute `name` in a decoder's view: ids[name], FP_ID_OTHER if absent. */
static int attr_id(PyObject *ids, PyObject *name, int *out)
{
    *out = FP_ID_OTHER;
    if (ids == NULL || ids == Py_None)
        return 0;
    PyObject *v = PyDict_GetItemWithError(ids, name);   /* borrowed */
    if (v == NULL)
        return PyErr_Occurred() ? -1 : 0;
    return small_int(v, FP_ID_AGENT, 1 << 20, out) < 0 ? bad("attribute ids") : 0;
}

static int parse_slots(Pipeline *p, PyObject *slots, PyObject *ids)
{
    if (!PyTuple_Check(slots) || PyTuple_GET_SIZE(slots) > 1000000)
        return bad("slots");
    if (ids != Py_None && !PyDict_Check(ids))
        return bad("attribute ids");
    Py_ssize_t n = PyTuple_GET_SIZE(slots);
    if ((p->slots = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Slot))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyTuple_GET_ITEM(slots, i);
        int kind;
        Slot *sl = &p->slots[i];
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < 2 ||
            small_int(PyTuple_GET_ITEM(t, 0), SLOT_ATTR, SLOT_NULL, &kind) < 0)
            return bad("slot");
        PyObject *obj = PyTuple_GET_ITEM(t, 1);
        Py_ssize_t size = PyTuple_GET_SIZE(t);
        if ((kind == SLOT_ATTR && !PyUnicode_Check(obj)) ||
            (kind >= SLOT_FN && !PyCallable_Check(obj)) ||
            size != (kind == SLOT_TABLE ? 6 : kind == SLOT_OR ? 3 : kind == SLOT_NULL ? 4 : 2))
            return bad("slot");
        if (kind == SLOT_ATTR && attr_id(ids, obj, &sl->id) < 0)
            return -1;
        if (kind == SLOT_TABLE) {
            /* (3, fn, inner, holder, attr, complete); inner comes first: no cycles */
            sl->attr = PyTuple_GET_ITEM(t, 4);
            if (sl->attr == Py_None)
                sl->attr = NULL;
            if (small_int(PyTuple_GET_ITEM(t, 2), 0, (int)i - 1, &sl->inner) < 0 ||
                (sl->attr != NULL && !PyUnicode_Check(sl->attr)) ||
                (sl->complete = PyObject_IsTrue(PyTuple_GET_ITEM(t, 5))) < 0)
                return bad("table slot");
            sl->holder = PyTuple_GET_ITEM(t, 3);
        } else if (kind == SLOT_OR) {
            /* (4, fn, (inner, ...)); the inner slots come first */
            PyObject *inner = PyTuple_GET_ITEM(t, 2);
            if (!PyTuple_Check(inner) || PyTuple_GET_SIZE(inner) < 1)
                return bad("or slot");
            sl->first = p->nints;
            sl->n = (int)PyTuple_GET_SIZE(inner);
            for (int j = 0; j < sl->n; j++) {
                int v;
                if (small_int(PyTuple_GET_ITEM(inner, j), 0, (int)i - 1, &v) < 0 ||
                    push_int(p, v) < 0)
                    return PyErr_Occurred() ? -1 : bad("or slot");
            }
        } else if (kind == SLOT_NULL) {
            /* (5, fn, inner, default) */
            if (small_int(PyTuple_GET_ITEM(t, 2), 0, (int)i - 1, &sl->inner) < 0)
                return bad("null slot");
            sl->dflt = PyTuple_GET_ITEM(t, 3);
        }
        sl->kind = kind;
        sl->obj = obj;
    }
    p->nslots = (int)n;
    return 0;
}

static int as_double(PyObject *o, double *out)
{
    if (!PyFloat_Check(o))
        return -1;
    *out = PyFloat_AS_DOUBLE(o);
    return 0;
}

/* fast: (table, tdict, filter, keys, True, vslot, int_attr, inv_t, -inv_t, new_entry,
 *        th_min or None, check_thresholds)
 * general: (table, tdict, filter, keys, False, vslots, checks, update) */
static int parse_def(Pipeline *p, PyObject *t, Def *d)
{
    Py_ssize_t n = PyTuple_Check(t) ? PyTuple_GET_SIZE(t) : 0;
    if (n < 5)
        return bad("definition");
    d->table = PyTuple_GET_ITEM(t, 0);
    d->tdict = PyTuple_GET_ITEM(t, 1);
    PyObject *flt = PyTuple_GET_ITEM(t, 2);
    if (!PyDict_Check(d->tdict))
        return bad("definition (table dict)");
    d->filter = -1;
    if (flt != Py_None && (d->filter = parse_filter(p, flt, 0)) < 0)
        return -1;
    if (int_list(p, PyTuple_GET_ITEM(t, 3), 0, p->nslots - 1, &d->keys, &d->nkeys) < 0)
        return PyErr_Occurred() ? -1 : bad("definition keys");
    if ((d->fast = PyObject_IsTrue(PyTuple_GET_ITEM(t, 4))) < 0)
        return -1;
    if (d->fast) {
        if (n != 12 || small_int(PyTuple_GET_ITEM(t, 5), 0, p->nslots - 1, &d->vslot) < 0 ||
            (d->int_attr = PyObject_IsTrue(PyTuple_GET_ITEM(t, 6))) < 0 ||
            as_double(d->inv_t_obj = PyTuple_GET_ITEM(t, 7), &d->inv_t) < 0 ||
            as_double(d->neg_inv_t_obj = PyTuple_GET_ITEM(t, 8), &d->neg_inv_t) < 0 ||
            !PyCallable_Check(d->new_entry = PyTuple_GET_ITEM(t, 9)))
            return bad("fast definition");
        if ((d->scratch = PyTuple_New(2 + d->nkeys)) == NULL)
            return -1;
        for (int j = 0; j < 2 + d->nkeys; j++)
            PyTuple_SET_ITEM(d->scratch, j, Py_NewRef(Py_None));
        PyObject_GC_UnTrack(d->scratch);
        d->th = PyTuple_GET_ITEM(t, 10);
        d->check = PyTuple_GET_ITEM(t, 11);
        if (d->th == Py_None) {
            d->th = NULL;
        } else {
            if (!PyCallable_Check(d->check))
                return bad("fast definition (thresholds)");
            d->th_is_float = PyFloat_CheckExact(d->th);
            d->th_d = d->th_is_float ? PyFloat_AS_DOUBLE(d->th) : 0.0;
        }
        return 0;
    }
    int nchecks;
    if (n != 8 || int_list(p, PyTuple_GET_ITEM(t, 5), 0, p->nslots - 1, &d->vslots,
                           &d->nvals) < 0 ||
        int_list(p, PyTuple_GET_ITEM(t, 6), 0, 1, &d->vchecks, &nchecks) < 0 ||
        nchecks != d->nvals || d->nvals < 1 ||
        !PyCallable_Check(d->update = PyTuple_GET_ITEM(t, 7)))
        return PyErr_Occurred() ? -1 : bad("definition values");
    return 0;
}

static void free_arrays(Pipeline *p)
{
    for (int i = 0; i < p->ndefs; i++)
        Py_CLEAR(p->defs[i].scratch);
    p->ndefs = p->nslots = p->nnodes = p->nints = 0;
    p->cap_nodes = p->cap_ints = 0;
    PyMem_Free(p->defs);
    PyMem_Free(p->slots);
    PyMem_Free(p->nodes);
    PyMem_Free(p->ints);
    p->defs = NULL;
    p->slots = NULL;
    p->nodes = NULL;
    p->ints = NULL;
}

static int pipeline_clear(Pipeline *p)
{
    free_arrays(p);   /* they borrow from the tuples cleared next */
    Py_CLEAR(p->slots_desc);
    Py_CLEAR(p->defs_desc);
    Py_CLEAR(p->on_error);
    Py_CLEAR(p->exp);
    Py_CLEAR(p->source);
    return 0;
}

static int pipeline_traverse(Pipeline *p, visitproc visit, void *arg)
{
    Py_VISIT(p->slots_desc);
    Py_VISIT(p->defs_desc);
    Py_VISIT(p->on_error);
    Py_VISIT(p->exp);
    Py_VISIT(p->source);
    return 0;
}

static void pipeline_dealloc(Pipeline *p)
{
    PyObject_GC_UnTrack(p);
    pipeline_clear(p);
    Py_TYPE(p)->tp_free((PyObject *)p);
}

static PyObject *pipeline_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *names[] = {"slots", "defs", "on_error", "exp", "source", "ids", NULL};
    PyObject *slots, *defs, *on_error, *exp_fn, *source = Py_None, *ids = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O!OO|OO:Pipeline", names, &PyTuple_Type,
                                     &slots, &PyTuple_Type, &defs, &on_error, &exp_fn, &source,
                                     &ids))
        return NULL;
    if (!PyCallable_Check(on_error) || !PyCallable_Check(exp_fn)) {
        PyErr_SetString(PyExc_TypeError, "Pipeline: on_error and exp must be callable");
        return NULL;
    }
    Pipeline *p = (Pipeline *)type->tp_alloc(type, 0);
    if (p == NULL)
        return NULL;
    p->vectorcall = pipeline_call;
    p->slots_desc = Py_NewRef(slots);
    p->defs_desc = Py_NewRef(defs);
    p->on_error = Py_NewRef(on_error);
    p->exp = Py_NewRef(exp_fn);
    p->source = Py_NewRef(source);
    if (parse_slots(p, slots, ids) < 0)
        goto fail;
    Py_ssize_t nd = PyTuple_GET_SIZE(defs);
    if ((p->defs = PyMem_Calloc(nd ? (size_t)nd : 1, sizeof(Def))) == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < nd; i++) {
        p->ndefs = (int)i + 1;      /* what parse_def made is freed with the object */
        if (parse_def(p, PyTuple_GET_ITEM(defs, i), &p->defs[i]) < 0)
            goto fail;
    }
    p->ndefs = (int)nd;
    return (PyObject *)p;
fail:
    Py_DECREF(p);
    return NULL;
}

static PyObject *pipeline_get_ndefs(Pipeline *p, void *closure)
{
    return PyLong_FromLong(p->ndefs);
}

static PyObject *pipeline_get_nslots(Pipeline *p, void *closure)
{
    return PyLong_FromLong(p->nslots);
}

static PyMemberDef pipeline_members[] = {
    {"source", T_OBJECT, offsetof(Pipeline, source), READONLY,
     "readable listing of what the pipeline computes"},
    {NULL}};

static PyGetSetDef pipeline_getset[] = {
    {"ndefs", (getter)pipeline_get_ndefs, NULL, "number of definitions", NULL},
    {"nslots", (getter)pipeline_get_nslots, NULL, "number of shared key slots", NULL},
    {NULL}};

static PyTypeObject PipelineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "engine.flows._fastpath.Pipeline",
    .tp_basicsize = sizeof(Pipeline),
    .tp_dealloc = (destructor)pipeline_dealloc,
    .tp_vectorcall_offset = offsetof(Pipeline, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Pipeline(slots, defs, on_error, exp, source=None, ids=None): process(attrs, "
              "agent, ds, rate, now) for a set of flow definitions, described by "
              "pipeline.build(); ids numbers attribute names for decoder views (C API)",
    .tp_traverse = (traverseproc)pipeline_traverse,
    .tp_clear = (inquiry)pipeline_clear,
    .tp_members = pipeline_members,
    .tp_getset = pipeline_getset,
    .tp_new = pipeline_new,
};

/* ------------------------------------------------------------------ housekeeping scans */
/* The once-a-second work over whole flow caches (engine/flows/cache.py, thresholds.py), as
 * loops in C: what Python would find with the same comparisons, a few nanoseconds an entry. */

/* an entry's item i as a double: 0, or -1 when it is not a number (Python decides) */
static int item_double(PyObject *e, Py_ssize_t i, double *out)
{
    if (!PyList_CheckExact(e) || PyList_GET_SIZE(e) <= i)
        return -1;
    PyObject *o = PyList_GET_ITEM(e, i);
    if (PyFloat_CheckExact(o)) {
        *out = PyFloat_AS_DOUBLE(o);
        return 0;
    }
    if (PyLong_CheckExact(o)) {
        *out = PyLong_AsDouble(o);
        if (*out == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return -1;
        }
        return 0;
    }
    return -1;
}

/* scan(entries, now, idle, active_timeout) -> (ended, due, odd): in dict order, the keys of
 * entries idle for longer than `idle` (now - e[1] > idle), of the others those due an
 * activeTimeout report (active_timeout not None, now - e[3] >= active_timeout and e[2] > 0),
 * and those whose fields are not plain numbers (the caller decides them in Python) */
static PyObject *m_scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan(entries dict, now, idle, active_timeout)");
        return NULL;
    }
    double now = PyFloat_AsDouble(args[1]), idle = PyFloat_AsDouble(args[2]), at = 0.0;
    int has_at = args[3] != Py_None;
    if (has_at)
        at = PyFloat_AsDouble(args[3]);
    if (PyErr_Occurred())
        return NULL;
    PyObject *ended = PyList_New(0), *due = PyList_New(0), *odd = PyList_New(0);
    if (ended == NULL || due == NULL || odd == NULL)
        goto fail;
    Py_ssize_t pos = 0;
    PyObject *k, *e;
    while (PyDict_Next(args[0], &pos, &k, &e)) {
        double last, start, total;
        PyObject *to = NULL;
        if (item_double(e, 1, &last) < 0 ||
            (has_at && (item_double(e, 3, &start) < 0 || item_double(e, 2, &total) < 0)))
            to = odd;
        else if (now - last > idle)
            to = ended;
        else if (has_at && now - start >= at && total > 0)
            to = due;
        if (to != NULL && PyList_Append(to, k) < 0)
            goto fail;
    }
    PyObject *r = PyTuple_Pack(3, ended, due, odd);
    Py_DECREF(ended);
    Py_DECREF(due);
    Py_DECREF(odd);
    return r;
fail:
    Py_XDECREF(ended);
    Py_XDECREF(due);
    Py_XDECREF(odd);
    return NULL;
}

/* location_max(entries, locations, now, inv_t) -> {(agent, ds): largest decayed value} over
 * the entries of a plain-sum cache whose (agent, ds) is in `locations` (a dict or set), the
 * value being FlowTable.value(): e[0] * exp(-(now - e[1]) * inv_t) when now > e[1], else e[0];
 * None when an entry is not plain numbers (the caller uses Python then) */
static PyObject *m_location_max(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "location_max(entries dict, locations, now, inv_t)");
        return NULL;
    }
    double now = PyFloat_AsDouble(args[2]), inv_t = PyFloat_AsDouble(args[3]);
    if (PyErr_Occurred())
        return NULL;
    PyObject *locs = args[1], *out = PyDict_New();
    if (out == NULL)
        return NULL;
    Py_ssize_t pos = 0;
    PyObject *k, *e;
    while (PyDict_Next(args[0], &pos, &k, &e)) {
        if (!PyTuple_CheckExact(k) || PyTuple_GET_SIZE(k) < 2)
            goto odd;
        PyObject *loc = PyTuple_Pack(2, PyTuple_GET_ITEM(k, 0), PyTuple_GET_ITEM(k, 1));
        if (loc == NULL)
            goto fail;
        int in = PySequence_Contains(locs, loc);
        if (in <= 0) {
            Py_DECREF(loc);
            if (in < 0)
                goto fail;
            continue;
        }
        double v0, last;
        if (item_double(e, 0, &v0) < 0 || item_double(e, 1, &last) < 0) {
            Py_DECREF(loc);
            goto odd;
        }
        double dt = now - last, v = dt > 0.0 ? v0 * exp(-dt * inv_t) : v0;
        /* v > maxima.get(loc, 0.0) */
        PyObject *cur = PyDict_GetItemWithError(out, loc);
        int bigger = v > (cur != NULL ? PyFloat_AS_DOUBLE(cur) : 0.0);
        if (PyErr_Occurred()) {
            Py_DECREF(loc);
            goto fail;
        }
        if (bigger) {
            PyObject *f = PyFloat_FromDouble(v);
            int r = f == NULL ? -1 : PyDict_SetItem(out, loc, f);
            Py_XDECREF(f);
            if (r < 0) {
                Py_DECREF(loc);
                goto fail;
            }
        }
        Py_DECREF(loc);
    }
    return out;
odd:
    Py_DECREF(out);
    Py_RETURN_NONE;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))m_scan, METH_FASTCALL,
     "scan(entries, now, idle, active_timeout) -> (ended keys, due keys, odd keys)"},
    {"location_max", (PyCFunction)(void (*)(void))m_location_max, METH_FASTCALL,
     "location_max(entries, locations, now, inv_t) -> {(agent, ds): max value} or None"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_fastpath",
                                       "C fast path for the per-sample flow pipeline", -1,
                                       module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fastpath(void)
{
    if (!(s_entries = PyUnicode_InternFromString("entries")) ||
        !(s_get = PyUnicode_InternFromString("get")) || !(zero_f = PyFloat_FromDouble(0.0)) ||
        !(idx0 = PyLong_FromLong(0)) || !(idx1 = PyLong_FromLong(1)) ||
        !(idx2 = PyLong_FromLong(2)))
        return NULL;
    if (PyType_Ready(&PipelineType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    static FpApi api = {FP_API_VERSION, fp_run, &PipelineType};
    PyObject *capsule = PyCapsule_New(&api, FP_API_CAPSULE, NULL);
    if (capsule == NULL || PyModule_AddObjectRef(m, "Pipeline", (PyObject *)&PipelineType) < 0 ||
        PyModule_AddObjectRef(m, "_C_API", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(capsule);
    return m;
}
