"""A compiled model library (`cnnc compile`) through its C API (runtime/cnnc.h),
with ctypes, for harnesses that call it as a program would. Needs no torch.

A library carries its own Halide runtime and thread pool, which cannot be
unloaded: harnesses that open many libraries open each in a forked child
(run_in_child).
"""
import ctypes
import os
import signal

import numpy as np

# A float32 NaN with a payload no computation produces: the arena is filled
# with it (CNNC_POISON_ARENA=1), so an output element no kernel wrote reads
# back as these exact bits, and a kernel reading memory nobody wrote makes
# NaNs where the reference has numbers.
POISON_BITS = 0x7FA5A5A5


class Library:
    def __init__(self, path):
        so = ctypes.CDLL(os.path.abspath(path))
        so.cnnc_create.restype = ctypes.c_void_p
        so.cnnc_create.argtypes = [ctypes.c_char_p]
        so.cnnc_destroy.argtypes = [ctypes.c_void_p]
        so.cnnc_last_error.restype = ctypes.c_char_p
        so.cnnc_last_error.argtypes = [ctypes.c_void_p]
        so.cnnc_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        so.cnnc_train_step.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_float, ctypes.POINTER(ctypes.c_float), ctypes.c_void_p]
        so.cnnc_train_steps.restype = ctypes.c_int64
        so.cnnc_train_steps.argtypes = [ctypes.c_void_p]
        so.cnnc_save_weights.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        so.cnnc_kernel_isa.restype = ctypes.c_char_p
        so.cnnc_kernel_isa.argtypes = [ctypes.c_void_p]
        so.cnnc_kernel_op.restype = ctypes.c_char_p
        so.cnnc_input_name.restype = ctypes.c_char_p
        so.cnnc_output_name.restype = ctypes.c_char_p
        so.cnnc_target.restype = ctypes.c_char_p
        self.so = so
        self.inputs = [self._tensor(i, so.cnnc_input_name, so.cnnc_input_shape) for i in range(so.cnnc_num_inputs())]
        self.outputs = [self._tensor(i, so.cnnc_output_name, so.cnnc_output_shape)
                        for i in range(so.cnnc_num_outputs())]

    def _tensor(self, i, name, shape):
        dims = (ctypes.c_int64 * 4)()
        rank = shape(i, dims)
        return name(i).decode(), [dims[d] for d in range(rank)]

    def kernel_ops(self):
        return [self.so.cnnc_kernel_op(k).decode() for k in range(self.so.cnnc_num_kernels())]

    def create(self, weights=None):
        m = self.so.cnnc_create(weights.encode() if weights else None)
        if not m:
            raise LibraryError(f"cnnc_create: {self.so.cnnc_last_error(None).decode()}")
        return m

    def error(self, m):
        return self.so.cnnc_last_error(m).decode()

    def run(self, m, inputs):
        """inputs: float32 arrays in input order. Returns the outputs; the
        output buffers start as NaN with POISON_BITS (an unwritten element
        would read back as those bits)."""
        ins = [np.ascontiguousarray(a, dtype=np.float32) for a in inputs]
        outs = [poisoned(shape) for _, shape in self.outputs]
        in_ptrs = (ctypes.c_void_p * max(1, len(ins)))(*[a.ctypes.data for a in ins])
        out_ptrs = (ctypes.c_void_p * max(1, len(outs)))(*[a.ctypes.data for a in outs])
        rc = self.so.cnnc_run(m, in_ptrs, out_ptrs)
        if rc != 0:
            raise LibraryError(f"cnnc_run: status {rc}: {self.error(m)}")
        return outs

    def train_step(self, m, inputs, labels, lr):
        ins = [np.ascontiguousarray(a, dtype=np.float32) for a in inputs]
        in_ptrs = (ctypes.c_void_p * max(1, len(ins)))(*[a.ctypes.data for a in ins])
        labels = np.ascontiguousarray(labels, dtype=np.float32)
        loss = ctypes.c_float()
        rc = self.so.cnnc_train_step(m, in_ptrs, labels.ctypes.data, lr, ctypes.byref(loss), None)
        if rc != 0:
            raise LibraryError(f"cnnc_train_step: status {rc}: {self.error(m)}")
        return loss.value

    def save(self, m, path):
        if self.so.cnnc_save_weights(m, path.encode()) != 0:
            raise LibraryError(f"cnnc_save_weights: {self.error(m)}")

    def kernel_isa(self, m):
        return self.so.cnnc_kernel_isa(m).decode()


def cpu_isas():
    """The ISA variants of a default library (CNNC_ISA values) this CPU runs, most capable first."""
    flags = set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    out = []
    if {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        out.append("avx512")
    if {"avx2", "fma", "f16c"} <= flags:
        out.append("avx2")
    out.append("sse41")
    return out


class LibraryError(Exception):
    pass


def poisoned(shape):
    return np.full(shape, POISON_BITS, dtype=np.uint32).view(np.float32)


def unwritten(a):
    """How many elements of a float32 array hold exactly the poison bits."""
    return int((np.asarray(a, dtype=np.float32).view(np.uint32) == POISON_BITS).sum())


def run_in_child(fn, timeout, error_file):
    """Runs fn() in a forked child that dies after `timeout` seconds (SIGALRM).
    Returns (status, signal): (exit status, 0) or (None, the signal that
    ended it). fn reports through files; an exception it raises is written
    to error_file and exits 3."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(timeout)
            fn()
        except BaseException as e:  # noqa: B902 - the child reports and exits
            try:
                with open(error_file, "w") as f:
                    f.write(f"{type(e).__name__}: {e}")
            finally:
                code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    return os.WEXITSTATUS(status), 0
