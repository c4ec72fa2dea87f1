/* The C API of engine.flows._fastpath for other extensions (the batch ingest in
 * engine/sflow/_ingest.c): run a Pipeline on a sample whose attributes are not a dict but a
 * decoder's view of them. Obtained from the capsule engine.flows._fastpath._C_API. */
#ifndef FLOWRT_FASTPATH_API_H
#define FLOWRT_FASTPATH_API_H

#include <Python.h>
#include "_fastpath_ops.h"      /* generated: FP_ID_OTHER, FP_ID_AGENT, opcodes */

#define FP_API_VERSION 1
#define FP_API_CAPSULE "engine.flows._fastpath._C_API"

/* attribute ids a Pipeline's attribute slots carry (Pipeline(..., ids={name: id})): the
 * decoder's key numbers (>= 0), FP_ID_AGENT for "agent" (set by the agent enricher), or
 * FP_ID_OTHER for names the decoder has no number for (both in _fastpath_ops.h) */

typedef struct FpView FpView;
struct FpView {
    /* the value of attribute `name` (number `id`): a new reference, Py_None when absent, NULL
     * with an exception set */
    PyObject *(*get)(FpView *view, int id, PyObject *name);
    /* the attributes as a dict (borrowed), for key functions written in Python: from then on
     * get() must answer from that dict, which such a function may change; NULL on error */
    PyObject *(*dict)(FpView *view);
};

typedef struct {
    int version;
    /* pipeline(attrs, agent, ds, rate, now) with the attributes of `view`: 0, or -1 with an
     * exception set (what the call would have raised) */
    int (*run)(PyObject *pipeline, FpView *view, PyObject *agent, PyObject *ds, PyObject *rate,
               PyObject *now);
    PyTypeObject *pipeline_type;
} FpApi;

#endif
