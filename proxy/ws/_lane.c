/* proxy.ws._lane: the relay's native hot lane (optional C extension; docs/performance.md).
 *
 * One `Lane` per reading link of a session, made that link's transport's protocol in front of
 * it (its `target`): the transport calls `data_received(data)` on the lane, which writes the
 * frame itself if `take(data)` does, and otherwise hands `data` to the target's own
 * `data_received`; every other attribute (connection_lost, pause_writing, ...) is the
 * target's. So a frame the lane takes costs no Python at all. `take(data)` returns True only
 * when all of this holds:
 *
 *   - the lane is armed (`write` is a callable, not None);
 *   - `data` is exactly one whole, unfragmented TEXT frame (first byte 0x81: FIN, no RSV
 *     bits, opcode 1) with a 7- or 16-bit length, masked if and only if `masked`;
 *   - its payload is exactly `length` bytes (and at most `max_size`);
 *   - its payload, unmasked, starts with one of `prefixes`;
 *   - it is not a sampled frame: one whose index in its direction, `offset` + `count` + 1
 *     (`offset`: the frames the Python path counted), is a multiple of `sample` (those are
 *     left to the Python path, which times them for the overhead histogram; 0: none is);
 *
 * and then the frame has been written exactly as received (its mask, if any, included), by
 * `write(data)` or on the socket (`direct`, below), and `count` has grown by one. Anything
 * else returns False having done nothing, and the Python path (proxy.ws.link) handles the
 * read, as it does with no lane. Nothing is copied, unmasked or allocated (but the unsent
 * rest of a frame the kernel took only part of). If `write` raises, the exception is cleared,
 * the lane disarms itself (`write` becomes None) and False is returned: the Python path
 * then writes the frame itself and handles the error as it always does.
 *
 * `direct(fd, buffered)` (plain TCP targets only: never under TLS) gives the lane the target
 * socket's descriptor and the target transport's `get_write_buffer_size`: while that reports
 * nothing queued, a taken frame is sent on the descriptor itself (non-blocking), which skips
 * the event loop's write path; whatever the kernel does not take at once (none of it on
 * EAGAIN or an error) goes to `write` as before, so the order of bytes on the socket is the
 * order of the calls, and the transport still sees and reports every error. The descriptor
 * stays the transport's: asyncio's and uvloop's transports close their socket only after
 * calling their protocol's `connection_lost`, and the link's releases every lane that
 * sends to it (`release()`), so a lane never sends on a descriptor that was closed, let
 * alone reused.
 *
 * A lane holds its `write` (a bound method of the other transport) and its target, and so
 * takes part in cycles (transport -> lane -> link -> transport): it supports the cycle
 * collector.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* not on every platform; Python ignores SIGPIPE anyway */
#endif

typedef struct {
    PyObject_HEAD
    PyObject *write;    /* a callable, or NULL when disarmed */
    PyObject *prefixes; /* a tuple of bytes */
    PyObject *target;   /* what declined reads and other attributes go to, or NULL */
    PyObject *fallback; /* target.data_received, or NULL */
    Py_ssize_t length;  /* the payload length taken; < 0 takes none */
    Py_ssize_t max_size;
    Py_ssize_t sample;  /* frames whose index is a multiple of it are declined; 0: none is */
    Py_ssize_t offset;  /* frames of this direction counted by the Python path */
    Py_ssize_t count;   /* frames taken */
    PyObject *buffered; /* the target transport's get_write_buffer_size, or NULL */
    int fd;             /* the target socket's descriptor (not owned), or -1 */
    int masked;
} Lane;

static void
release_fd(Lane *self)
{
    self->fd = -1; /* the transport's to close */
    Py_CLEAR(self->buffered);
}

static int
check_prefixes(PyObject *prefixes)
{
    if (!PyTuple_Check(prefixes)) {
        PyErr_SetString(PyExc_TypeError, "prefixes must be a tuple of bytes");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(prefixes); i++) {
        if (!PyBytes_CheckExact(PyTuple_GET_ITEM(prefixes, i))) {
            PyErr_SetString(PyExc_TypeError, "prefixes must be a tuple of bytes");
            return -1;
        }
    }
    return 0;
}

static PyObject *
Lane_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Lane *self = (Lane *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->fd = -1; /* zeroed memory would say descriptor 0 */
        self->length = -1;
    }
    return (PyObject *)self;
}

static int
Lane_init(Lane *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"prefixes", "masked", "max_size", "target", NULL};
    PyObject *prefixes, *target = Py_None, *fallback = NULL;
    int masked = -1;
    Py_ssize_t max_size = -1;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$pnO:Lane", keywords, &prefixes, &masked,
                                     &max_size, &target)) {
        return -1;
    }
    if (masked < 0 || max_size < 0) {
        PyErr_SetString(PyExc_TypeError, "Lane() needs masked= and max_size= (max_size >= 0)");
        return -1;
    }
    if (check_prefixes(prefixes) < 0) {
        return -1;
    }
    if (target != Py_None) {
        fallback = PyObject_GetAttrString(target, "data_received");
        if (fallback == NULL) {
            return -1;
        }
    }
    Py_XSETREF(self->prefixes, Py_NewRef(prefixes));
    Py_XSETREF(self->target, target != Py_None ? Py_NewRef(target) : NULL);
    Py_XSETREF(self->fallback, fallback);
    release_fd(self);
    Py_CLEAR(self->write);
    self->masked = masked;
    self->max_size = max_size;
    self->length = -1;
    self->sample = 0;
    self->offset = 0;
    self->count = 0;
    return 0;
}

static int
Lane_traverse(Lane *self, visitproc visit, void *arg)
{
    Py_VISIT(self->write);
    Py_VISIT(self->prefixes);
    Py_VISIT(self->target);
    Py_VISIT(self->fallback);
    Py_VISIT(self->buffered);
    return 0;
}

static int
Lane_clear(Lane *self)
{
    Py_CLEAR(self->write);
    Py_CLEAR(self->prefixes);
    Py_CLEAR(self->target);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->buffered);
    return 0;
}

static void
Lane_dealloc(Lane *self)
{
    PyObject_GC_UnTrack(self);
    release_fd(self);
    Lane_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* True when the payload at `body` (`length` bytes, masked with the 4 bytes before it when
 * `masked`) starts with one of `prefixes`. */
static int
starts_with(PyObject *prefixes, const unsigned char *body, Py_ssize_t length, int masked)
{
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(prefixes); k++) {
        PyObject *prefix = PyTuple_GET_ITEM(prefixes, k);
        Py_ssize_t size = PyBytes_GET_SIZE(prefix);
        const unsigned char *want = (const unsigned char *)PyBytes_AS_STRING(prefix);
        if (size > length) {
            continue;
        }
        if (!masked) {
            if (memcmp(body, want, (size_t)size) == 0) {
                return 1;
            }
            continue;
        }
        const unsigned char *key = body - 4;
        Py_ssize_t i = 0;
        while (i < size && (unsigned char)(body[i] ^ key[i & 3]) == want[i]) {
            i++;
        }
        if (i == size) {
            return 1;
        }
    }
    return 0;
}

/* True when the target transport has nothing queued (it says so through `buffered`). */
static int
queue_empty(Lane *self)
{
    PyObject *size = PyObject_CallNoArgs(self->buffered);
    if (size == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_ssize_t queued = PyLong_CheckExact(size) ? PyLong_AsSsize_t(size) : -1;
    Py_DECREF(size);
    if (queued == -1 && PyErr_Occurred()) {
        PyErr_Clear(); /* an int past Py_ssize_t: not empty */
    }
    return queued == 0;
}

/* 1 if the frame was taken (written and counted), else 0; never raises. */
static int
lane_take(Lane *self, PyObject *data)
{
    if (self->write == NULL || self->prefixes == NULL || !PyBytes_CheckExact(data)) {
        return 0;
    }
    const unsigned char *frame = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    if (n < 2 || frame[0] != 0x81 || ((frame[1] & 0x80) != 0) != self->masked) {
        return 0;
    }
    Py_ssize_t length = frame[1] & 0x7F;
    Py_ssize_t head = 2;
    if (length == 126) {
        if (n < 4) {
            return 0;
        }
        length = ((Py_ssize_t)frame[2] << 8) | frame[3];
        head = 4;
    }
    else if (length == 127) {
        return 0; /* 64-bit lengths: the Python path */
    }
    if (self->masked) {
        head += 4;
    }
    if (length != self->length || length > self->max_size || head + length != n) {
        return 0;
    }
    if (!starts_with(self->prefixes, frame + head, length, self->masked)) {
        return 0;
    }
    if (self->sample > 0 && (self->offset + self->count + 1) % self->sample == 0) {
        return 0; /* a sampled one: the Python path times it */
    }
    Py_ssize_t sent = 0;
    if (self->fd >= 0 && queue_empty(self) && self->fd >= 0) { /* (released meanwhile?) */
        sent = send(self->fd, frame, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent == n) {
            self->count++;
            return 1;
        }
        if (sent < 0) {
            sent = 0; /* EAGAIN, or an error the transport will meet and report */
        }
    }
    if (self->write == NULL) { /* disarmed meanwhile (by `buffered`) */
        if (sent > 0 && self->fd >= 0) {
            shutdown(self->fd, SHUT_RDWR); /* half a frame out: only closing is safe */
        }
        return sent > 0;
    }
    PyObject *rest = data;
    if (sent > 0) {
        rest = PyBytes_FromStringAndSize((const char *)frame + sent, n - sent);
        if (rest == NULL) {
            PyErr_Clear(); /* the frame is half sent: only closing the socket is safe */
            Py_CLEAR(self->write);
            shutdown(self->fd, SHUT_RDWR);
            return 1;
        }
    }
    PyObject *write = Py_NewRef(self->write); /* the call may disarm the lane */
    PyObject *result = PyObject_CallOneArg(write, rest);
    Py_DECREF(write);
    if (rest != data) {
        Py_DECREF(rest);
        if (result == NULL) { /* part of it went: the Python path must not send it again */
            PyErr_Clear();
            Py_CLEAR(self->write);
            self->count++;
            return 1;
        }
    }
    if (result == NULL) {
        PyErr_Clear();
        Py_CLEAR(self->write);
        return 0;
    }
    Py_DECREF(result);
    self->count++;
    return 1;
}

static PyObject *
Lane_take(Lane *self, PyObject *data)
{
    return PyBool_FromLong(lane_take(self, data));
}

static PyObject *
Lane_data_received(Lane *self, PyObject *data)
{
    if (lane_take(self, data) || self->fallback == NULL) {
        Py_RETURN_NONE;
    }
    return PyObject_CallOneArg(self->fallback, data);
}

/* The lane's own attributes, else the target's (it stands in for it as the protocol). */
static PyObject *
Lane_getattro(Lane *self, PyObject *name)
{
    PyObject *value = PyObject_GenericGetAttr((PyObject *)self, name);
    if (value != NULL || self->target == NULL || !PyErr_ExceptionMatches(PyExc_AttributeError)) {
        return value;
    }
    PyErr_Clear();
    return PyObject_GetAttr(self->target, name);
}

static PyObject *
Lane_direct(Lane *self, PyObject *args)
{
    int fd;
    PyObject *buffered;
    if (!PyArg_ParseTuple(args, "iO:direct", &fd, &buffered)) {
        return NULL;
    }
    if (fd < 0 || !PyCallable_Check(buffered)) {
        PyErr_SetString(PyExc_ValueError, "direct(fd, buffered): a descriptor and a callable");
        return NULL;
    }
    release_fd(self);
    self->fd = fd;
    self->buffered = Py_NewRef(buffered);
    Py_RETURN_NONE;
}

static PyObject *
Lane_release(Lane *self, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(self->write);
    release_fd(self);
    Py_RETURN_NONE;
}

static PyObject *
Lane_get_direct(Lane *self, void *closure)
{
    return PyBool_FromLong(self->fd >= 0);
}

static PyObject *
Lane_get_write(Lane *self, void *closure)
{
    return Py_NewRef(self->write != NULL ? self->write : Py_None);
}

static int
Lane_set_write(Lane *self, PyObject *value, void *closure)
{
    if (value == NULL || value == Py_None) {
        Py_CLEAR(self->write);
        return 0;
    }
    if (!PyCallable_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "write must be callable or None");
        return -1;
    }
    Py_XSETREF(self->write, Py_NewRef(value));
    return 0;
}

static PyObject *
Lane_get_target(Lane *self, void *closure)
{
    return Py_NewRef(self->target != NULL ? self->target : Py_None);
}

static PyObject *
Lane_get_prefixes(Lane *self, void *closure)
{
    return Py_NewRef(self->prefixes != NULL ? self->prefixes : Py_None);
}

static int
Lane_set_prefixes(Lane *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "prefixes cannot be deleted");
        return -1;
    }
    if (check_prefixes(value) < 0) {
        return -1;
    }
    Py_XSETREF(self->prefixes, Py_NewRef(value));
    return 0;
}

static PyMethodDef Lane_methods[] = {
    {"take", (PyCFunction)Lane_take, METH_O,
     "take(data, /)\n--\n\nWrite `data` to `write` if it is a frame this lane takes; True if so."},
    {"direct", (PyCFunction)Lane_direct, METH_VARARGS,
     "direct(fd, buffered, /)\n--\n\nSend taken frames on `fd` (the transport's) while "
     "`buffered()` is 0, until `release()`."},
    {"release", (PyCFunction)Lane_release, METH_NOARGS,
     "release()\n--\n\nDisarm the lane and forget the descriptor (the link ended)."},
    {"data_received", (PyCFunction)Lane_data_received, METH_O,
     "data_received(data, /)\n--\n\nTake `data`, or hand it to the target's data_received."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Lane_members[] = {
    {"length", T_PYSSIZET, offsetof(Lane, length), 0,
     "the payload length taken (< 0: none is)"},
    {"sample", T_PYSSIZET, offsetof(Lane, sample), 0,
     "frames whose index (offset + count + 1) is a multiple of it go to the Python path"},
    {"offset", T_PYSSIZET, offsetof(Lane, offset), 0,
     "frames of this direction the Python path counted"},
    {"count", T_PYSSIZET, offsetof(Lane, count), READONLY, "frames taken so far"},
    {"max_size", T_PYSSIZET, offsetof(Lane, max_size), READONLY, "the largest payload taken"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef Lane_getset[] = {
    {"write", (getter)Lane_get_write, (setter)Lane_set_write,
     "where taken frames go (a callable), or None: the lane is disarmed", NULL},
    {"prefixes", (getter)Lane_get_prefixes, (setter)Lane_set_prefixes,
     "a payload must start with one of these bytes", NULL},
    {"sends_directly", (getter)Lane_get_direct, NULL,
     "True while the lane has a descriptor to send on (`direct`)", NULL},
    {"target", (getter)Lane_get_target, NULL,
     "what declined reads and other attributes go to (None: nothing)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject LaneType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "proxy.ws._lane.Lane",
    .tp_doc = PyDoc_STR("Lane(prefixes, *, masked, max_size, target=None): the native hot lane."),
    .tp_basicsize = sizeof(Lane),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = Lane_new,
    .tp_init = (initproc)Lane_init,
    .tp_dealloc = (destructor)Lane_dealloc,
    .tp_traverse = (traverseproc)Lane_traverse,
    .tp_clear = (inquiry)Lane_clear,
    .tp_methods = Lane_methods,
    .tp_members = Lane_members,
    .tp_getset = Lane_getset,
    .tp_getattro = (getattrofunc)Lane_getattro,
};

static struct PyModuleDef lane_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "proxy.ws._lane",
    .m_doc = "The relay's native hot lane (see proxy/ws/lane.py).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__lane(void)
{
    if (PyType_Ready(&LaneType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&lane_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Lane", (PyObject *)&LaneType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
