# SPDX-License-Identifier: Apache-2.0
"""Racing callers for the fs tests (t0408, t0409): each in a process of
its own, started together, counting the errno of every call that fails."""
import errno
import os


def procs(fns):
    """Runs each fn in a child at once (a pipe starts them together) and
    returns the errno counts they saw: {(fn index, errno name): count}."""
    rfd, wfd = os.pipe()
    kids = []
    for fn in fns:
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(wfd)
            os.read(rfd, 1)
            errs = fn()
            os.write(out_w, repr(errs).encode())
            os._exit(0)
        os.close(out_w)
        kids.append((pid, out_r))
    os.close(rfd)
    os.write(wfd, b"x" * len(fns))
    os.close(wfd)
    seen = {}
    for i, (pid, out_r) in enumerate(kids):
        with os.fdopen(out_r, "rb") as r:
            errs = eval(r.read().decode() or "{}")
        os.waitpid(pid, 0)
        for e, c in errs.items():
            seen[(i, e)] = seen.get((i, e), 0) + c
    return seen


class Wrong(Exception):
    """A call that returned what no run on tmpfs could give; its str names it."""


def looping(call, loops):
    """A fn for procs: call(i) for i in range(loops), counting errnos and
    the Wrong results by name."""
    def fn():
        errs = {}
        for i in range(loops):
            try:
                call(i)
            except OSError as e:
                k = errno.errorcode.get(e.errno, str(e.errno))
                errs[k] = errs.get(k, 0) + 1
            except Wrong as e:
                errs[str(e)] = errs.get(str(e), 0) + 1
        return errs
    return fn
