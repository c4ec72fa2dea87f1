/* _counters.c: counter samples into the metric store in C (internal to engine.sflow._accel) */
#ifndef FLOWRT_COUNTERS_H
#define FLOWRT_COUNTERS_H

typedef struct CounterCtx CounterCtx;

int acc_counters_init(void);
/* from MetricStore.c_counter_config(); NULL with an exception when it does not fit */
CounterCtx *acc_counters_new(PyObject *config);
void acc_counters_free(CounterCtx *cc);
/* whether cc was made from this configuration tuple */
int acc_counters_fits(CounterCtx *cc, PyObject *config);
/* one counter sample: 1 taken into the store, 0 left to the Python path (nothing changed),
 * -1 an exception (the sample was partly applied, as a raising handler leaves it) */
int acc_counters(CounterCtx *cc, const unsigned char *buf, Py_ssize_t rec_off,
                 Py_ssize_t rec_end, uint32_t nrec, uint32_t ds_class, PyObject *agent,
                 PyObject *ds_id, uint32_t seq, PyObject *now, double now_d,
                 unsigned long long uptime, unsigned long long sub_agent);

#endif
