/* Optional C receive path for the sFlow collector (see docs/ingest.md, "Receive path").
 *
 * Receiver(fd, capacity_bytes) runs a thread ("flowrt-recv") that never takes the GIL: it
 * empties the UDP socket with recvmmsg into a byte ring and the event loop drains the ring
 * in batches. The kernel's receive buffer then only has to cover the receive thread's
 * scheduling gaps, not the Python thread's (a REST request, a script callback, a GC pass),
 * and the per-datagram cost on the Python thread drops to building one (bytes, str, float).
 *
 * send_batch() is the sender side for benchmarks and flowrt-gen: one sendmmsg per batch keeps
 * a pacing sender cheap on a small machine.
 *
 * Linux only (recvmmsg, sendmmsg, eventfd); the collector falls back to asyncio without it.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ ring layout
 *
 * One slab, records back to back, each 8-byte aligned: a header then the datagram bytes.
 * `head` (producer) and `tail` (consumer) are byte counters that only grow; offset = counter
 * % capacity. A record never straddles the end of the slab: the producer writes a wrap marker
 * (size field WRAP) and continues at offset 0, the skipped bytes counting as used until the
 * consumer passes the marker. */

#define WRAP 0xffffffffu
#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

typedef struct {
    uint32_t size;      /* bytes of this record including header and padding, or WRAP */
    uint32_t len;       /* datagram bytes (after truncation) */
    double ts;          /* CLOCK_REALTIME seconds */
    uint32_t scope;     /* IPv6 scope id (link-local sources) */
    uint16_t family;    /* AF_INET or AF_INET6; IPv4-mapped IPv6 is stored as AF_INET */
    uint16_t pad;
    unsigned char addr[16];
} rec_t;

#define REC_HDR ALIGN8(sizeof(rec_t))

#define DEFAULT_BATCH 64
#define MAX_BATCH 1024
#define DEFAULT_MAX_DATAGRAM 65536   /* the largest UDP/IPv4 payload is 65507 */

typedef struct {
    PyObject_HEAD
    int fd;                 /* our dup() of the socket */
    int ready_fd;           /* eventfd: the ring became non-empty (the loop's add_reader) */
    int wake_fd;            /* eventfd: close() wants the thread to stop */
    int started, closed;
    pthread_t thread;
    unsigned char *slab;
    size_t cap;
    unsigned batch;
    size_t max_datagram;
    unsigned char *stage;   /* recvmmsg target: batch * max_datagram */
    struct mmsghdr *msgs;
    struct iovec *iovs;
    struct sockaddr_storage *names;

    /* written by the receive thread; head in bytes, produced in records */
    _Atomic uint64_t head, produced;
    _Atomic uint64_t received, dropped, bytes, truncated, errors, high_water;
    _Atomic int last_errno;
    _Atomic int tid;
    /* the consumer's counters on a cache line of their own: the receive thread writes its
     * line per datagram, and sharing it would bounce it between the cores on every write */
    char pad_producer[64];
    _Atomic uint64_t tail, consumed;
    char pad_consumer[64];
    _Atomic int stop;
    pid_t owner;            /* process that started the thread */

    /* consumer-only: datagrams drain() skipped because they had waited longer than its
     * max_age (the backlog's bound in time) */
    uint64_t expired;
    /* consumer-only: the string of the last source, reused while the source repeats */
    uint16_t last_family;
    uint32_t last_scope;
    unsigned char last_addr[16];
    PyObject *last_src;
} Receiver;

static double now_realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ producer (no GIL) */

static void compact_addr(const struct sockaddr_storage *ss, rec_t *r)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(r->addr, 0, sizeof r->addr);
    r->scope = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        /* a dual-stack socket reports IPv4 agents as ::ffff:a.b.c.d; agents are keyed by the
         * plain IPv4 string, as the asyncio path does */
        if (memcmp(s6->sin6_addr.s6_addr, mapped, 12) == 0) {
            r->family = AF_INET;
            memcpy(r->addr, s6->sin6_addr.s6_addr + 12, 4);
        } else {
            r->family = AF_INET6;
            memcpy(r->addr, s6->sin6_addr.s6_addr, 16);
            r->scope = s6->sin6_scope_id;
        }
    } else if (ss->ss_family == AF_INET) {
        r->family = AF_INET;
        memcpy(r->addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    } else {
        r->family = 0;
    }
}

/* Append one datagram; 0 when it does not fit (the caller counts the drop). */
static int ring_push(Receiver *self, const struct mmsghdr *m, double ts)
{
    size_t len = m->msg_len;
    if (len > self->max_datagram)       /* truncated: msg_len is the datagram's full length */
        len = self->max_datagram;
    size_t need = REC_HDR + ALIGN8(len);
    uint64_t head = atomic_load_explicit(&self->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&self->tail, memory_order_acquire);
    size_t used = (size_t)(head - tail);
    size_t off = (size_t)(head % self->cap);
    size_t to_end = self->cap - off;
    size_t skip = 0;
    /* No early restart at offset 0 when the ring is empty (which would keep a light load in
     * a few hot pages): until the consumer has read the wrap marker, the rest of the slab
     * would count as used, and a burst right then would be dropped with the slab nearly
     * empty. The slab's pages are committed as traffic first sweeps through them. */
    if (need > to_end)
        skip = to_end;
    if (need > self->cap || used + skip + need > self->cap)
        return 0;
    if (skip) {
        ((rec_t *)(self->slab + off))->size = WRAP;
        off = 0;
    }
    rec_t *r = (rec_t *)(self->slab + off);
    r->size = (uint32_t)need;
    r->len = (uint32_t)len;
    r->ts = ts;
    compact_addr((const struct sockaddr_storage *)m->msg_hdr.msg_name, r);
    memcpy(self->slab + off + REC_HDR, m->msg_hdr.msg_iov->iov_base, len);
    atomic_store_explicit(&self->head, head + skip + need, memory_order_release);
    return 1;
}

static void signal_ready(Receiver *self)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the loop will wake anyway */
    while (write(self->ready_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

/* Block until the socket is readable; 1 when close() asked the thread to stop. */
static int wait_readable(struct pollfd *pfd)
{
    pfd[0].revents = pfd[1].revents = 0;
    if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    return pfd[1].revents != 0;
}

static void *receive_loop(void *arg)
{
    Receiver *self = arg;
    atomic_store(&self->tid, (int)gettid());
    struct pollfd pfd[2] = {{self->fd, POLLIN, 0}, {self->wake_fd, POLLIN, 0}};
    while (!atomic_load_explicit(&self->stop, memory_order_acquire)) {
        for (unsigned i = 0; i < self->batch; i++) {
            self->iovs[i].iov_base = self->stage + (size_t)i * self->max_datagram;
            self->iovs[i].iov_len = self->max_datagram;
            self->msgs[i].msg_hdr.msg_name = &self->names[i];
            self->msgs[i].msg_hdr.msg_namelen = sizeof self->names[i];
            self->msgs[i].msg_hdr.msg_iov = &self->iovs[i];
            self->msgs[i].msg_hdr.msg_iovlen = 1;
            self->msgs[i].msg_hdr.msg_control = NULL;
            self->msgs[i].msg_hdr.msg_controllen = 0;
            self->msgs[i].msg_hdr.msg_flags = 0;
        }
        /* MSG_TRUNC: msg_len reports a datagram's full length even when it was cut to
         * max_datagram, so `bytes` counts what arrived */
        int n = recvmmsg(self->fd, self->msgs, self->batch, MSG_DONTWAIT | MSG_TRUNC, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* e.g. ENOMEM: count it and wait in poll rather than spin on the error */
                atomic_fetch_add_explicit(&self->errors, 1, memory_order_relaxed);
                atomic_store_explicit(&self->last_errno, errno, memory_order_relaxed);
            }
            if (wait_readable(pfd))
                break;
            continue;
        }
        double ts = now_realtime();
        /* Whether the consumer had caught up before this batch decides if it needs a wakeup;
         * published records it has not consumed yet are the ones it will still come back for. */
        uint64_t before = atomic_load_explicit(&self->head, memory_order_relaxed);
        uint64_t pushed = 0, nbytes = 0, trunc = 0;
        for (int i = 0; i < n; i++) {
            nbytes += self->msgs[i].msg_len;
            if (self->msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
                trunc++;
            pushed += ring_push(self, &self->msgs[i], ts);
        }
        int full = (uint64_t)n > pushed;
        if (full)
            atomic_fetch_add_explicit(&self->dropped, (uint64_t)n - pushed, memory_order_relaxed);
        if (pushed) {
            uint64_t produced = atomic_load_explicit(&self->produced, memory_order_relaxed) + pushed;
            atomic_store_explicit(&self->produced, produced, memory_order_release);
            /* Dekker-style pairing with the fence in drain(): either the consumer sees the new
             * head before it declares the ring empty, or we see its final tail here and wake
             * it; a record is never left without a wakeup */
            atomic_thread_fence(memory_order_seq_cst);
            uint64_t queued = produced - atomic_load_explicit(&self->consumed, memory_order_relaxed);
            if (queued > atomic_load_explicit(&self->high_water, memory_order_relaxed))
                atomic_store_explicit(&self->high_water, queued, memory_order_relaxed);
            if (atomic_load_explicit(&self->tail, memory_order_relaxed) >= before)
                signal_ready(self);
        }
        /* last, with release: whoever sees `received` also sees this batch's other counters */
        atomic_fetch_add_explicit(&self->bytes, nbytes, memory_order_relaxed);
        if (trunc)
            atomic_fetch_add_explicit(&self->truncated, trunc, memory_order_relaxed);
        atomic_fetch_add_explicit(&self->received, (uint64_t)n, memory_order_release);
        /* a short batch emptied the socket: wait in poll rather than spend a recvmmsg on
         * EAGAIN first (poll returns at once if more has arrived meanwhile) */
        if ((unsigned)n < self->batch && wait_readable(pfd))
            break;
        /* The queue is full: the engine is that far behind. Receiving only to drop would take
         * CPU the engine needs (on a small machine this thread shares its cores); pause and
         * let the kernel drop what its buffer cannot hold (sFlowKernelDrops) meanwhile. */
        if (full) {
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, NULL);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ consumer (GIL held) */

static PyObject *source_str(Receiver *self, const rec_t *r)
{
    size_t n = r->family == AF_INET6 ? 16 : 4;
    if (self->last_src && self->last_family == r->family && self->last_scope == r->scope &&
        memcmp(self->last_addr, r->addr, n) == 0) {
        Py_INCREF(self->last_src);
        return self->last_src;
    }
    char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    if (r->family == AF_INET || r->family == AF_INET6) {
        if (!inet_ntop(r->family, r->addr, text, INET6_ADDRSTRLEN))
            text[0] = 0;
        if (r->family == AF_INET6 && r->scope) {
            /* link-local sources carry their interface, as Python's getnameinfo-based
             * address strings do ("fe80::1%eth0") */
            size_t k = strlen(text);
            text[k++] = '%';
            if (!if_indextoname(r->scope, text + k))
                snprintf(text + k, IF_NAMESIZE + 1, "%u", (unsigned)r->scope);
        }
    } else {
        text[0] = 0;
    }
    PyObject *s = PyUnicode_FromString(text);
    if (!s)
        return NULL;
    Py_XSETREF(self->last_src, s);
    Py_INCREF(s);
    self->last_family = r->family;
    self->last_scope = r->scope;
    memcpy(self->last_addr, r->addr, n);
    return s;
}

static PyObject *Receiver_drain(Receiver *self, PyObject *args)
{
    Py_ssize_t max_n = 512;
    double max_age = 0.0;
    if (!PyArg_ParseTuple(args, "|nd:drain", &max_n, &max_age))
        return NULL;
    /* received before `oldest`: skipped and counted (they would only tell about the past) */
    double oldest = max_age > 0.0 ? now_realtime() - max_age : 0.0;
    PyObject *out = PyList_New(0);
    if (!out || self->closed || max_n <= 0)   /* drain(0) must not swallow a wakeup */
        return out;
    uint64_t ignored;
    /* clear the wakeup before looking at the ring, so a record published after this read
     * leaves the eventfd readable (a spurious wakeup at worst, never a lost one) */
    while (read(self->ready_fd, &ignored, sizeof ignored) < 0 && errno == EINTR)
        ;
    uint64_t tail = atomic_load_explicit(&self->tail, memory_order_relaxed);
    uint64_t consumed = atomic_load_explicit(&self->consumed, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&self->head, memory_order_acquire);
    Py_ssize_t n = 0;
    uint64_t skipped = 0;
    while (n < max_n) {
        if (tail == head) {
            atomic_store_explicit(&self->consumed, consumed, memory_order_release);
            atomic_store_explicit(&self->tail, tail, memory_order_release);
            atomic_thread_fence(memory_order_seq_cst);   /* pairs with the receive thread's */
            head = atomic_load_explicit(&self->head, memory_order_acquire);
            if (tail == head)
                break;
        }
        size_t off = (size_t)(tail % self->cap);
        const rec_t *r = (const rec_t *)(self->slab + off);
        if (r->size == WRAP) {
            tail += self->cap - off;
            continue;
        }
        if (r->ts < oldest) {
            tail += r->size;
            consumed++;
            self->expired++;
            if ((++skipped & 255) == 0) {   /* hand the space back as we go */
                atomic_store_explicit(&self->tail, tail, memory_order_release);
                atomic_store_explicit(&self->consumed, consumed, memory_order_release);
            }
            continue;
        }
        PyObject *data = PyBytes_FromStringAndSize((const char *)r + REC_HDR, r->len);
        PyObject *src = data ? source_str(self, r) : NULL;
        PyObject *ts = src ? PyFloat_FromDouble(r->ts) : NULL;
        PyObject *item = ts ? PyTuple_New(3) : NULL;
        if (!item) {
            Py_XDECREF(data);
            Py_XDECREF(src);
            Py_XDECREF(ts);
            Py_DECREF(out);
            out = NULL;
            break;   /* the record stays queued for the next drain */
        }
        PyTuple_SET_ITEM(item, 0, data);
        PyTuple_SET_ITEM(item, 1, src);
        PyTuple_SET_ITEM(item, 2, ts);
        int rc = PyList_Append(out, item);
        Py_DECREF(item);
        if (rc < 0) {
            Py_CLEAR(out);
            break;
        }
        tail += r->size;
        consumed++;
        n++;
        /* hand the space back as we go, so a long drain does not starve the producer */
        if ((n & 63) == 0) {
            atomic_store_explicit(&self->tail, tail, memory_order_release);
            atomic_store_explicit(&self->consumed, consumed, memory_order_release);
        }
    }
    atomic_store_explicit(&self->consumed, consumed, memory_order_release);
    atomic_store_explicit(&self->tail, tail, memory_order_release);
    return out;
}

static PyObject *Receiver_pending(Receiver *self, PyObject *Py_UNUSED(ignored))
{
    if (self->closed)
        Py_RETURN_FALSE;
    return PyBool_FromLong(atomic_load(&self->head) != atomic_load(&self->tail));
}

static PyObject *Receiver_reset_high_water(Receiver *self, PyObject *Py_UNUSED(ignored))
{
    uint64_t queued = atomic_load(&self->produced) - atomic_load(&self->consumed);
    atomic_store(&self->high_water, queued);
    Py_RETURN_NONE;
}

static PyObject *Receiver_fileno(Receiver *self, PyObject *Py_UNUSED(ignored))
{
    if (self->closed) {
        PyErr_SetString(PyExc_ValueError, "receiver is closed");
        return NULL;
    }
    return PyLong_FromLong(self->ready_fd);
}

static PyObject *Receiver_stats(Receiver *self, PyObject *Py_UNUSED(ignored))
{
    /* `received` first: the receive thread updates it last */
    uint64_t received = atomic_load_explicit(&self->received, memory_order_acquire);
    uint64_t produced = atomic_load(&self->produced), consumed = atomic_load(&self->consumed);
    return Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:n,s:i}",
        "received", (unsigned long long)received,
        "dropped", (unsigned long long)atomic_load(&self->dropped),
        "expired", (unsigned long long)self->expired,
        "queued", (unsigned long long)(produced - consumed),
        "high_water", (unsigned long long)atomic_load(&self->high_water),
        "bytes", (unsigned long long)atomic_load(&self->bytes),
        "truncated", (unsigned long long)atomic_load(&self->truncated),
        "errors", (unsigned long long)atomic_load(&self->errors),
        "capacity", (Py_ssize_t)self->cap, "last_errno", atomic_load(&self->last_errno));
}

/* ------------------------------------------------------------------ lifecycle */

static void release(Receiver *self)
{
    if (self->closed)
        return;
    self->closed = 1;
    /* in a forked child the thread does not exist, and the wake eventfd is the parent's */
    if (self->started && self->owner == getpid()) {
        atomic_store(&self->stop, 1);
        uint64_t one = 1;
        while (write(self->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
            ;
        Py_BEGIN_ALLOW_THREADS
        pthread_join(self->thread, NULL);
        Py_END_ALLOW_THREADS
        self->started = 0;
    }
    if (self->fd >= 0)
        close(self->fd);
    if (self->ready_fd >= 0)
        close(self->ready_fd);
    if (self->wake_fd >= 0)
        close(self->wake_fd);
    self->fd = self->ready_fd = self->wake_fd = -1;
    PyMem_RawFree(self->slab);
    PyMem_RawFree(self->stage);
    PyMem_RawFree(self->msgs);
    PyMem_RawFree(self->iovs);
    PyMem_RawFree(self->names);
    self->slab = self->stage = NULL;
    self->msgs = NULL;
    self->iovs = NULL;
    self->names = NULL;
    Py_CLEAR(self->last_src);
}

static PyObject *Receiver_close(Receiver *self, PyObject *Py_UNUSED(ignored))
{
    release(self);
    Py_RETURN_NONE;
}

static void Receiver_dealloc(Receiver *self)
{
    release(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Receiver_init(Receiver *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fd", "capacity_bytes", "batch", "max_datagram", NULL};
    int fd;
    Py_ssize_t cap = 64 * 1024 * 1024, batch = DEFAULT_BATCH, maxdg = DEFAULT_MAX_DATAGRAM;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "i|nnn:Receiver", kwlist, &fd, &cap, &batch,
                                     &maxdg))
        return -1;
    if (self->started || self->slab || self->closed) {
        PyErr_SetString(PyExc_RuntimeError, "Receiver already initialised");
        return -1;
    }
    if (cap < 4096 || (size_t)cap > ((size_t)1 << 40)) {
        PyErr_SetString(PyExc_ValueError, "capacity_bytes must be at least 4096");
        return -1;
    }
    if (batch < 1 || batch > MAX_BATCH || maxdg < 1 || maxdg > 65536) {
        PyErr_SetString(PyExc_ValueError, "batch must be 1..1024 and max_datagram 1..65536");
        return -1;
    }
    self->cap = (size_t)cap & ~(size_t)7;   /* records are 8-aligned: so is the wrap point */
    self->batch = (unsigned)batch;
    self->max_datagram = (size_t)maxdg;
    self->slab = PyMem_RawMalloc(self->cap);
    self->stage = PyMem_RawMalloc(self->batch * self->max_datagram);
    self->msgs = PyMem_RawCalloc(self->batch, sizeof *self->msgs);
    self->iovs = PyMem_RawCalloc(self->batch, sizeof *self->iovs);
    self->names = PyMem_RawCalloc(self->batch, sizeof *self->names);
    if (!self->slab || !self->stage || !self->msgs || !self->iovs || !self->names) {
        release(self);
        PyErr_NoMemory();
        return -1;
    }
    /* our own descriptor: the Python socket may be closed before or after us */
    self->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (self->fd < 0 || (self->ready_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
        (self->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        release(self);
        return -1;
    }
    /* the receive thread must never run Python's signal handlers' C part in its context
     * (nor be interrupted by SIGINT meant for the main thread): block all signals in it */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = pthread_create(&self->thread, NULL, receive_loop, self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        release(self);
        return -1;
    }
    pthread_setname_np(self->thread, "flowrt-recv");
    self->started = 1;
    self->owner = getpid();
    /* wait the few microseconds until the thread has published its id, so native_id is
     * usable as soon as the constructor returns (benchmarks read its /proc entry) */
    Py_BEGIN_ALLOW_THREADS
    while (!atomic_load(&self->tid))
        sched_yield();
    Py_END_ALLOW_THREADS
    return 0;
}

/* ------------------------------------------------------------------ send_batch */

#define SEND_CHUNK 1024   /* UIO_MAXIOV: sendmmsg's vlen limit */

static PyObject *m_send_batch(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fd", "datagrams", "start", "count", NULL};
    int fd;
    PyObject *seq, *count_obj = Py_None;
    Py_ssize_t start = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iO|nO:send_batch", kwlist, &fd, &seq, &start,
                                     &count_obj))
        return NULL;
    PyObject *fast = PySequence_Fast(seq, "datagrams must be a sequence of bytes");
    if (!fast)
        return NULL;
    Py_ssize_t size = PySequence_Fast_GET_SIZE(fast);
    Py_ssize_t count;
    if (count_obj == Py_None) {
        count = start < size ? size - start : 0;
    } else {
        count = PyLong_AsSsize_t(count_obj);
        if (count == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return NULL;
        }
    }
    if (start < 0 || count < 0 || (count > 0 && size == 0)) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "start and count must be >= 0 (and datagrams non-empty)");
        return NULL;
    }
    struct mmsghdr msgs[64];
    struct iovec iovs[64];
    Py_buffer views[64];
    Py_ssize_t sent = 0;
    PyObject *result = NULL;
    while (sent < count) {
        int k = 0;
        /* another thread may have shrunk the list while the GIL was released */
        size = PySequence_Fast_GET_SIZE(fast);
        if (size == 0)
            break;
        /* buffers stay pinned (a view each) while the GIL is released for the syscall */
        while (k < 64 && sent + k < count) {
            PyObject *item = PySequence_Fast_GET_ITEM(fast, (start % size + sent + k) % size);
            if (PyObject_GetBuffer(item, &views[k], PyBUF_SIMPLE) < 0)
                goto fail_views;
            iovs[k].iov_base = views[k].buf;
            iovs[k].iov_len = (size_t)views[k].len;
            memset(&msgs[k], 0, sizeof msgs[k]);
            msgs[k].msg_hdr.msg_iov = &iovs[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
            k++;
        }
        int n, err = 0;
        Py_BEGIN_ALLOW_THREADS
        n = sendmmsg(fd, msgs, (unsigned)k, 0);
        err = errno;
        Py_END_ALLOW_THREADS
        for (int i = 0; i < k; i++)
            PyBuffer_Release(&views[i]);
        if (n < 0) {
            if (err == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    goto fail;
                continue;
            }
            if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS)
                break;
            if (sent > 0)   /* report what went out; the error surfaces on the next call */
                break;
            errno = err;
            PyErr_SetFromErrno(PyExc_OSError);
            goto fail;
        }
        sent += n;
        if (n < k)   /* the kernel stopped early (buffer full): let the caller pace */
            break;
        continue;
    fail_views:
        for (int i = 0; i < k; i++)
            PyBuffer_Release(&views[i]);
        goto fail;
    }
    result = PyLong_FromSsize_t(sent);
fail:
    Py_DECREF(fast);
    return result;
}

/* ------------------------------------------------------------------ type and module */

static PyObject *Receiver_native_id(Receiver *self, void *Py_UNUSED(closure))
{
    int tid = atomic_load(&self->tid);
    if (tid <= 0)
        Py_RETURN_NONE;
    return PyLong_FromLong(tid);
}

static PyGetSetDef receiver_getset[] = {
    {"native_id", (getter)Receiver_native_id, NULL,
     "kernel thread id of the receive thread (/proc/<pid>/task/<id>), None before it runs", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyObject *Receiver_new(PyTypeObject *type, PyObject *Py_UNUSED(args),
                              PyObject *Py_UNUSED(kwds))
{
    Receiver *self = (Receiver *)type->tp_alloc(type, 0);
    if (self)   /* dealloc after a failed __init__ must not close descriptor 0 */
        self->fd = self->ready_fd = self->wake_fd = -1;
    return (PyObject *)self;
}

static PyMethodDef receiver_methods[] = {
    {"fileno", (PyCFunction)Receiver_fileno, METH_NOARGS,
     "fileno() -> the eventfd that becomes readable when datagrams are queued"},
    {"drain", (PyCFunction)Receiver_drain, METH_VARARGS,
     "drain(max_n=512, max_age=0) -> [(bytes, source ip str, timestamp float)], oldest first;\n"
     "with max_age > 0, datagrams received more than max_age seconds ago are skipped and\n"
     "counted (stats()['expired'])"},
    {"pending", (PyCFunction)Receiver_pending, METH_NOARGS,
     "pending() -> True while datagrams are queued"},
    {"stats", (PyCFunction)Receiver_stats, METH_NOARGS,
     "stats() -> {received, dropped, expired, queued, high_water, bytes, truncated, errors, ...}"},
    {"reset_high_water", (PyCFunction)Receiver_reset_high_water, METH_NOARGS,
     "reset_high_water(): start the high-water mark again from the current queue length"},
    {"close", (PyCFunction)Receiver_close, METH_NOARGS,
     "close(): stop and join the receive thread; idempotent"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject ReceiverType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "engine._net.Receiver",
    .tp_basicsize = sizeof(Receiver),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Receiver(fd, capacity_bytes=64MB, batch=64, max_datagram=65536): a thread "
              "receiving UDP datagrams from a dup of fd into a bounded ring",
    .tp_new = Receiver_new,
    .tp_init = (initproc)Receiver_init,
    .tp_dealloc = (destructor)Receiver_dealloc,
    .tp_methods = receiver_methods,
    .tp_getset = receiver_getset,
};

static PyMethodDef methods[] = {
    {"send_batch", (PyCFunction)(void (*)(void))m_send_batch, METH_VARARGS | METH_KEYWORDS,
     "send_batch(fd, datagrams, start=0, count=None) -> number sent with sendmmsg on a "
     "connected socket; indices wrap modulo len(datagrams); a full buffer ends it early"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_net",
                                       "C receive thread and batch sender for UDP sFlow", -1,
                                       methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__net(void)
{
    if (PyType_Ready(&ReceiverType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m)
        return NULL;
    Py_INCREF(&ReceiverType);
    if (PyModule_AddObject(m, "Receiver", (PyObject *)&ReceiverType) < 0) {
        Py_DECREF(&ReceiverType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
