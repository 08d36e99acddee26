"""The student's side of the grader: the zygote and the child that runs student code.

Run as a script (``python -I server.py FD CONFIG``); it imports only its neighbours in this
folder (``wire``, ``guard``, ``confine``), none of which holds anything secret, and nothing
from ``autograder``: the hidden tests and the reference never exist in this process.

Two roles:

- the *zygote*: started once per grading slot; imports torch and numpy (the slow part),
  probes what confinement the kernel offers, then waits on a control socket. For each
  submission the judge sends it a socket; the zygote forks a *child* that serves on that
  socket. The zygote is a child subreaper, so anything a child leaves behind (daemons, new
  sessions) becomes the zygote's own child and is killed by ``cleanup``.
- the *child*: confines itself (``confine.py``) before any student code exists, moves into
  the private copy of the submission and answers ``call`` requests: import
  ``source.<module>``, call a function on decoded arguments, send back the encoded result.
  Objects that are not checked values (a batch-norm ``cache``) stay in the child and
  travel as numbered handles.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import resource
import signal
import socket
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # -I leaves the script's folder out; the child drops it again

import confine  # noqa: E402
from guard import ForbiddenOperation, Watch  # noqa: E402
from wire import Codec, Handle, recv_msg, recv_with_fds, send_msg, shared_tensor  # noqa: E402

# Honest code never needs a thread (the child may not start one: confine.py), so every
# library that keeps a pool runs with one; set before numpy and torch are imported, since
# OpenBLAS and OpenMP read them once, at load time.
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
                     "VECLIB_MAXIMUM_THREADS": "1", "MKL_DYNAMIC": "FALSE",
                     "OMP_DYNAMIC": "FALSE"}

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
WATCH: Watch | None = None
_PROBE = Watch.probe
# The clock of the latency runs, bound here, before any student code exists: a student's
# `time.thread_time_ns = ...` changes the module attribute, not this reference. It is the
# kernel's CPU clock of this thread, the only one the child may have, so it counts what the
# process clock that the judge reads from outside (sandbox.cpu_ns) counts, and the judge
# checks what is reported against it. (The process clock read from inside moves in
# scheduler ticks, 4 ms here: too coarse for a run.)
_CPU_NS = time.thread_time_ns


PRELOAD = ("math", "cmath", "itertools", "functools", "collections", "collections.abc",
           "typing", "dataclasses", "random", "copy", "operator", "string", "re", "warnings",
           "types", "abc", "contextlib", "enum", "inspect", "numbers", "statistics",
           "fractions", "decimal", "heapq", "bisect", "textwrap", "pprint", "time",
           "threading", "multiprocessing", "subprocess", "signal", "ctypes", "gc", "weakref",
           "importlib.util", "importlib.machinery", "unittest", "unittest.mock", "pathlib",
           "tempfile", "shutil", "glob", "io", "pickle", "json", "csv", "hashlib", "secrets",
           "torch.nn", "torch.nn.functional", "torch.autograd", "torch.func", "torch.testing",
           "torch.utils._python_dispatch", "torch.backends.opt_einsum", "numpy.testing",
           "numpy.linalg", "numpy.fft", "numpy.random", "scipy", "scipy.signal")


def _warm_up(torch) -> None:
    """Run the operators students reach for once, so that their lazy imports happen now."""
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.unfold(x, 2).sum() + torch.einsum("nchw,nchw->c", x, x).sum()
    y = y + x.unfold(2, 2, 1).sum() + x.as_strided((2, 2), (1, 1)).sum()
    y = y + torch.var_mean(x, dim=(0, 2, 3), correction=0)[0].sum() + x.std() + x.var()
    y.backward()
    torch.autograd.grad(x.pow(2).sum(), x)
    # Not torch.testing.assert_close: its first call imports torch.distributed.tensor
    # (1.7 s of every grader's start); the rare child that calls it pays that itself.
    torch.allclose(x, x)
    torch.nn.functional.conv2d(x, x[:1, :, :2, :2])
    torch.nn.functional.batch_norm(x.detach(), None, None, training=True)


# ---------------------------------------------------------------- zygote

def _children() -> list[int]:
    pids = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as fh:
                pids += [int(p) for p in fh.read().split()]
        except OSError:
            pass
    return pids


def _kill_uid(uid: int) -> None:
    """Kill every process of uid (a sandbox user): kill(-1) from a process with that uid."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(3):
                try:
                    os.kill(-1, signal.SIGKILL)
                except OSError:
                    pass
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def cleanup_descendants(uid: int | None = None) -> int:
    """Kill every descendant (all became direct children: we are a subreaper)."""
    killed = 0
    if uid is not None:
        _kill_uid(uid)
    for _ in range(50):
        pids = _children()
        if not pids:
            break
        for pid in pids:
            for fn, arg in ((os.killpg, pid), (os.kill, pid)):
                try:
                    fn(arg, signal.SIGKILL)
                except OSError:
                    pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
                killed += 1
            except ChildProcessError:
                pass
    return killed


def environment_paths(secret_roots: list[str]) -> tuple[list[str], list[str]]:
    """(folders to read, folders to read and execute): the interpreter, its standard
    library and the installed packages, never anything beneath a secret root (the
    checkout) except the interpreter's own prefix when a virtual environment lives there."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                              sys.base_exec_prefix)}
    paths = set(prefixes)
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if real and real != HERE and os.path.exists(real):
            paths.add(real)
    roots = [os.path.realpath(r) for r in secret_roots]

    def inside(path: str, folder: str) -> bool:
        return path == folder or path.startswith(folder.rstrip("/") + "/")

    def allowed(path: str) -> bool:
        secret = [r for r in roots if inside(path, r)]
        # A virtual environment inside the checkout: its prefix is not part of the secret.
        return all(any(inside(path, q) and not inside(r, q) for q in prefixes) for r in secret)

    read = sorted(p for p in paths if allowed(p))
    for path in read:
        if os.path.isdir(os.path.join(path, "autograder", "grading")):
            raise RuntimeError(f"the grading environment holds the autograder package "
                               f"({path}); the sandbox would expose the hidden tests")
    binary = os.path.dirname(os.path.realpath(sys.executable))
    return read, [binary, "/usr/bin", "/bin", "/usr/lib", "/lib", "/lib64", "/usr/lib64"]


def probe(config: dict) -> dict:
    """What confinement works here, in facts and, under "missing", in words for the
    instructor: what the kernel or the environment lacks."""
    as_root = os.geteuid() == 0
    off = set(config.get("disable", []))
    facts = {"landlock_abi": 0 if "landlock" in off else confine.landlock_abi(),
             "root": as_root, "uid_drop": config.get("uid") is not None,
             "cgroup": config.get("cgroup"),
             "netns": "netns" not in off and confine.can_unshare(as_root),
             "mount": as_root and "mount" not in off,
             "seccomp": "seccomp" not in off and confine.seccomp_supported()}
    facts["threads"] = facts["seccomp"] and "threads" not in off
    # The bounded scratch needs a mount namespace of its own: root's, or (an ordinary user)
    # one inside the user namespace that the network namespace brings.
    facts["scratch"] = ("scratch" not in off and (as_root or facts["netns"])
                        and confine.can_mount_scratch(as_root, config["probe_dir"]))
    missing = []
    abi = facts["landlock_abi"]
    if abi == 0:
        missing.append("Landlock (Linux 5.13 or later, enabled in the kernel's LSM list): "
                       "student code can read and write whatever this user can")
    elif abi < 4:
        missing.append(f"Landlock ABI 4 (the kernel has {abi}): TCP is not blocked")
    if 0 < abi < confine.FULL_ABI:
        missing.append(f"Landlock ABI 6 (the kernel has {abi}): student code could signal "
                       "other processes of this user")
    if not facts["seccomp"]:
        missing.append(f"a seccomp filter for {os.uname().machine}: student code may change "
                       "file modes, other processes' limits and its keyrings")
    if facts["seccomp"] and not facts["threads"]:
        missing.append("the thread and process ban (switched off): student code may start "
                       "threads and processes that the run-time guard does not watch")
    if not facts["scratch"]:
        missing.append("a bounded scratch space (a tmpfs could not be mounted): student code "
                       "may fill the disk, one file at a time, within the per-file limit")
    if not facts["netns"]:
        missing.append("network namespaces (unprivileged user namespaces are disabled): "
                       "student code has the machine's network")
    processes, memory = int(config["max_processes"]), int(config["memory_bytes"])
    if facts["cgroup"]:
        facts["memory"] = f"a cgroup of {memory >> 20} MiB for all of a submission's processes"
    elif facts["threads"]:
        facts["memory"] = (f"one process of {memory >> 20} MiB (no memory cgroup could be made; "
                           "the seccomp filter allows no second process)")
    else:
        facts["memory"] = (f"at most {processes} processes of {memory // processes >> 20} MiB "
                           "each (no memory cgroup could be made)")
    if config.get("uid") is not None:
        facts["exposed"] = confine.blocked_for(config["uid"], config["read"]
                                               + config["read_exec"])
    facts["missing"] = missing
    return facts


def zygote(control_fd: int, config: dict) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    ctl = socket.socket(fileno=control_fd)
    os.environ.update(SINGLE_THREAD_ENV)
    try:
        import numpy
        import torch

        torch.set_num_threads(1)
        # Import now what student code and torch commonly import later: a fork then
        # finds it loaded (faster than reading it from disk in every child).
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        global WATCH
        WATCH = Watch(torch, numpy, config.get("bans", {}))
        with WATCH:  # the dispatch mode has lazy imports of its own
            _warm_up(torch)
        read, read_exec = environment_paths(config.get("secret_roots", []))
        config.update(read=read, read_exec=read_exec)
        facts = probe(config)
        config.update(facts)
        facts["confined"] = _probe_child(config)
    except BaseException as exc:
        ctl.send(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}).encode())
        raise
    ctl.send(json.dumps({"ready": True, "pid": os.getpid(), "facilities": facts}).encode())
    while True:
        try:
            msg, fds = recv_with_fds(ctl)
        except (EOFError, OSError):
            break
        cmd = msg.get("cmd")
        if cmd == "spawn":
            pid = os.fork()
            if pid == 0:
                ctl.close()
                child(fds[0], dict(config, **msg))  # never returns
            for fd in fds:
                os.close(fd)
            ctl.send(json.dumps({"pid": pid}).encode())
        elif cmd == "status":
            ctl.send(json.dumps(child_status(int(msg.get("pid", 0)),
                                             float(msg.get("wait", 0)))).encode())
        elif cmd == "cleanup":
            ctl.send(json.dumps({"killed": cleanup_descendants(msg.get("uid"))}).encode())
        elif cmd == "exit":
            break
    cleanup_descendants()


def child_status(pid: int, wait: float) -> dict:
    """How a child ended, for the judge: the zygote is its parent, so only it can reap it
    and read its exit status and resources. {"running": true} while it still runs."""
    if pid <= 0:  # 0 and -1 would reap any child, not the one asked about
        return {"unknown": True}
    deadline = time.monotonic() + min(max(wait, 0.0), 10.0)
    while True:
        try:
            done, status, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            return {"unknown": True}  # not ours, or already reaped
        if done:
            break
        if time.monotonic() >= deadline:
            return {"running": True}
        time.sleep(0.01)
    report = {"cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
              "maxrss_bytes": usage.ru_maxrss * 1024}
    if os.WIFSIGNALED(status):
        report["signal"] = os.WTERMSIG(status)
    else:
        report["exit_code"] = os.waitstatus_to_exitcode(status)
    return report


def _probe_child(config: dict) -> dict:
    """Confine a throwaway child exactly like a real one and report what it can do."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        try:
            _confine(dict(config, dir=config["probe_dir"]), keep_fds=[theirs.fileno()])
            import importlib.util

            spec = importlib.util.find_spec("pdb")  # not preloaded: read from disk now
            report = {
                "stdlib": _try(lambda: open(spec.origin, "rb").read(1)),
                "secret": _try(lambda: os.listdir(config["secret_roots"][0])),
                "tmp": _try(lambda: open(f"/tmp/.autograder-probe-{os.getpid()}", "w").close()),
                "scratch": _try(lambda: open(os.path.join(config["probe_dir"], "w"),
                                             "w").close()),
            }
            theirs.sendall(json.dumps(report).encode())
            os._exit(0)
        except BaseException as exc:
            try:
                theirs.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
            finally:
                os._exit(1)
    theirs.close()
    ours.settimeout(60)
    try:
        data = ours.recv(1 << 16)
    finally:
        ours.close()
        os.waitpid(pid, 0)
    return json.loads(data or b'{"error": "the probe died"}')


def _try(action) -> bool:
    try:
        action()
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- child

def _confine(spec: dict, keep_fds: list[int]) -> None:
    """Everything before student code: session, fds, namespaces, user, limits, Landlock."""
    os.setsid()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # Nothing the zygote holds open (its log, the control socket) stays reachable.
    keep = sorted({0, 1, 2, *keep_fds})
    for low, high in zip([-1] + keep, keep + [1 << 16]):
        if high - low > 1:
            os.closerange(low + 1, high)
    as_root = os.geteuid() == 0
    if spec.get("cgroup"):
        confine.join_cgroup(spec["cgroup"])
    if spec.get("uid") is not None:
        # As root, a private mount namespace also hides the checkout outright (a second
        # wall behind Landlock) and re-exposes environment folders the user could not reach.
        hidden = spec.get("secret_roots", []) if spec.get("mount") else []
        confine.expose(spec.get("exposed", []) + hidden,
                       spec["read"] + spec["read_exec"] + [spec["dir"]])
    if spec.get("netns"):
        confine.unshare_network(as_root)
    if spec.get("scratch"):
        # After the namespaces (as an ordinary user, the user namespace gives the right to
        # mount), before the uid drop, Landlock (its write rule names the new mount) and
        # seccomp (which denies mount).
        confine.mount_scratch(spec["dir"], int(spec["scratch_bytes"]),
                              spec.get("uid") if as_root else None)
    if spec.get("uid") is not None:
        confine.drop_to(spec["uid"])
    processes = int(spec["max_processes"])
    memory = int(spec["memory_bytes"])
    # One process can exist when the seccomp filter kills the first clone or fork: it may
    # have the whole budget. Otherwise the process cap times this limit is the bound.
    single = spec.get("seccomp") and spec.get("threads", True)
    per_process = memory if spec.get("cgroup") or single else memory // processes
    confine.limit(resource.RLIMIT_AS, confine.vm_size() + per_process)
    confine.limit(resource.RLIMIT_FSIZE, int(spec["file_bytes"]))
    confine.limit(resource.RLIMIT_CORE, 0)
    # Soft limit SIGXCPU, hard one second later SIGKILL (for code that ignores SIGXCPU):
    # the judge tells either from the CPU time the zygote reads when it reaps the child.
    cpu = int(spec["cpu_seconds"])
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    except (ValueError, OSError):
        pass
    confine.limit(resource.RLIMIT_NPROC, processes)
    # After the uid change, which clears the parent-death signal.
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    abi = int(spec.get("landlock_abi", 0))
    if abi:
        system = list(confine.READABLE_SYSTEM) + [f"/proc/{os.getpid()}"]
        confine.apply_landlock(read=spec["read"] + system, read_exec=spec["read_exec"],
                               write=[spec["dir"]],
                               devices=list(confine.DEVICES) + confine.gpu_devices(), abi=abi)
    if spec.get("seccomp"):
        # Last: the steps above need what it denies (mount, unshare), and from here on a
        # new thread or process kills the child.
        confine.apply_seccomp(threads=bool(spec.get("threads", True)))


def child(fd: int, spec: dict) -> None:
    code = 0
    try:
        workdir = spec["dir"]
        out = os.open(spec["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                      0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        _confine(spec, keep_fds=[fd])
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update(spec.get("env", {}))
        readable = set(spec["read"])
        sys.path[:] = [workdir] + [p for p in sys.path if p and os.path.realpath(p) in readable]
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        Server(socket.socket(fileno=fd)).serve()
    except BaseException:  # the student's code may raise anything, SystemExit included
        code = 1
        try:
            traceback.print_exc()
        except BaseException:
            pass
    finally:
        os._exit(code)


class Server:
    """Answers the judge's requests inside the student's process."""

    def __init__(self, sock: socket.socket):
        import numpy
        import torch

        self.sock, self.torch, self.np = sock, torch, numpy
        self.np_scalars = frozenset(t for t in numpy.sctypeDict.values()
                                    if isinstance(t, type) and issubclass(t, numpy.generic))
        self.objects: dict[int, object] = {}
        self.denied: dict[str, dict] = {}  # modules whose import ran a banned operation
        self.codec = Codec(torch, numpy, keep=self._keep, lookup=self.objects.__getitem__)
        self.watch = WATCH

    def _keep(self, obj) -> int:
        key = len(self.objects) + 1
        self.objects[key] = obj
        return key

    def serve(self) -> None:
        while True:
            try:
                msg, blobs = recv_msg(self.sock)
            except (EOFError, OSError):
                return
            if msg.get("cmd") == "exit":
                return
            fds: list[int] = []
            if msg.get("shm"):  # the inputs' memory, shared with the judge
                _, fds = recv_with_fds(self.sock)
            if msg.get("cmd") == "import":
                reply, out_blobs = self.load(msg["module"]), []
            elif msg.get("cmd") == "time":
                reply, out_blobs = self.time_runs(msg, blobs)
            else:
                reply, out_blobs = self.handle(msg, blobs, fds)
            send_msg(self.sock, reply, out_blobs)

    def load(self, module: str) -> dict:
        """Import source.<module> under the guard, with every family banned: nothing that
        a graded module may not call runs at import time either (an autograd graph built
        there and replayed inside a call, say)."""
        name = f"source.{module}"
        if name in self.denied:
            return self.denied[name]
        if name in sys.modules:
            return {"ok": True}
        try:
            with self.watch.scope(list(self.watch.bans), f"the import of source/{module}.py"):
                importlib.import_module(name)
        except BaseException as exc:  # SyntaxError, ImportError, SystemExit at import...
            return {"ok": False, "stage": "import", "error": _describe(exc),
                    "forbidden": list(dict.fromkeys(self.watch.seen()))}
        found = list(dict.fromkeys(self.watch.seen()))
        if found:  # a denial that the module's own code caught: the import still fails
            self.denied[name] = {"ok": False, "stage": "import", "forbidden": found, "error": {
                "type": "ForbiddenOperation", "where": f"source/{module}.py",
                "message": f"a banned operation ran while importing it ({found[0]})"}}
            return self.denied[name]
        return {"ok": True}

    def handle(self, msg: dict, blobs: list[bytes],
               fds: list[int] = ()) -> tuple[dict, list[bytes]]:
        loaded = self.load(msg["module"])
        if not loaded["ok"]:
            return loaded, []
        try:
            fn = getattr(sys.modules[f"source.{msg['module']}"], msg["fn"])
            args = self.codec.decode(msg["args"], blobs)
            # Tensor arguments live in memory the judge reads itself after the call.
            for fd, (i, enc) in zip(fds, enumerate_shared(msg)):
                args[i] = shared_tensor(self.torch, fd, enc)
        except BaseException as exc:
            return {"ok": False, "stage": "lookup", "error": _describe(exc)}, []
        finally:
            for fd in fds:
                os.close(fd)
        rules = [str(r) for r in msg.get("rules") or ()]
        keep = msg.get("keep") or []
        # Arguments that came as handles (a cache) go back as handles: the judge never
        # reads the student's own objects.
        sent = msg["args"].get("items", []) if isinstance(msg["args"], dict) else []
        start = time.perf_counter()
        try:
            with self.watch.scope(rules, msg["fn"]):
                value = fn(*args)
                elapsed = time.perf_counter() - start
                # Still under the guard: whatever student code runs while the result is
                # taken apart (a tensor subclass's detach, a lying __iter__ or __getattr__,
                # a __class__ property) is watched, and what leaves is plain data only.
                value = self._plain_result(value, keep)
                after = [Handle(e["id"], "object") if isinstance(e, dict)
                         and e.get("t") == "handle" else self._plain(a)
                         for e, a in zip(sent, args)]
                left = self._autograd_left(rules, value, args)
        except BaseException as exc:
            return {"ok": False, "stage": "call", "error": _describe(exc),
                    "forbidden": list(dict.fromkeys(self.watch.seen())),
                    "guard": self._probe(msg)}, []
        out_blobs: list[bytes] = []
        reply = {"ok": True, "elapsed": elapsed,
                 "forbidden": list(dict.fromkeys(self.watch.seen() + left)),
                 "guard": self._probe(msg),
                 "value": self.codec.encode(value, out_blobs),
                 "args_after": self.codec.encode(after, out_blobs)}
        return reply, out_blobs

    def _workload(self, msg: dict):
        """The function one latency run calls: torch's built-in (trusted code, run before
        any student module is imported) or the graded module's functions, composed the way
        the workload needs (batch norm: forward, then backward on its cache)."""
        torch, kind = self.torch, msg.get("workload")
        F = torch.nn.functional
        if msg.get("impl") == "builtin":
            if kind == "cc":
                return lambda X, K: F.conv2d(X[None, None], K[None, None])[0, 0]

            def builtin_bn(x, gamma, beta, dout):
                # F.batch_norm's own kernels, forward and backward, called directly: the
                # autograd engine's first backward imports modules a confined child may
                # not have loaded, and the engine adds nothing to the kernels' time.
                out, mean, invstd = torch.native_batch_norm(x, gamma, beta, None, None,
                                                            True, 0.1, 1e-5)
                dx, dgamma, dbeta = torch.ops.aten.native_batch_norm_backward(
                    dout, x, gamma, None, None, mean, invstd, True, 1e-5, [True] * 3)
                return out, dx, dgamma, dbeta
            return builtin_bn
        module = sys.modules[f"source.{msg['module']}"]
        fns = [getattr(module, name) for name in msg["fns"]]
        if kind == "cc":
            return fns[0]
        forward, backward = fns

        def student_bn(x, gamma, beta, dout):
            # The base types' own iterators: never an __iter__ the student wrote.
            pair = forward(x, gamma, beta, {"mode": "train"})
            out, cache = (list.__iter__(pair) if isinstance(pair, list)
                          else tuple.__iter__(pair))
            grads = backward(dout, cache)
            dx, dgamma, dbeta = (list.__iter__(grads) if isinstance(grads, list)
                                 else tuple.__iter__(grads))
            return out, dx, dgamma, dbeta
        return student_bn

    def time_runs(self, msg: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
        """Latency runs of one workload: each run its own inputs (a cache of the last
        answer is useless), under the guard with the module's rules, timed on the
        process's CPU clock. Each result is made plain data and encoded as soon as its run
        ends (nothing the student left behind can change it later); only the fastest
        run's result goes back, for the judge to check against the reference."""
        if msg.get("impl") != "builtin":
            loaded = self.load(msg["module"])
            if not loaded["ok"]:
                return loaded, []
        try:
            fn = self._workload(msg)
            runs = self.codec.decode(msg["args"], blobs)
        except BaseException as exc:
            return {"ok": False, "stage": "lookup", "error": _describe(exc)}, []
        rules = [str(r) for r in msg.get("rules") or ()]
        budget = int(float(msg.get("budget_s", 1.0)) * 1e9)
        spans: list[list[int]] = []
        results: list[tuple[object, list[bytes]]] = []
        seen: list[str] = []  # each scope starts afresh: what every run saw, together
        try:
            for args in runs:
                if spans and spans[-1][1] - spans[0][0] + (spans[-1][1] - spans[-1][0]) \
                        > budget:
                    break  # the next run would not fit: best of those done
                start = _CPU_NS()
                with self.watch.scope(rules, msg.get("label", "the timed run")):
                    value = self._plain(fn(*args))
                end = _CPU_NS()
                seen += self.watch.seen()
                spans.append([start, end])
                out: list[bytes] = []
                results.append((self.codec.encode(value, out), out))
        except BaseException as exc:
            return {"ok": False, "stage": "call", "error": _describe(exc),
                    "forbidden": list(dict.fromkeys(seen + self.watch.seen())),
                    "guard": self._probe(msg)}, []
        timed = spans[1:] or spans  # the first run warms up, unless it is the only one
        best = min(range(len(timed)), key=lambda i: timed[i][1] - timed[i][0])
        best += len(spans) - len(timed)
        value, out_blobs = results[best]
        return {"ok": True, "spans": spans, "best": best, "value": value,
                "forbidden": list(dict.fromkeys(seen)),
                "guard": self._probe(msg)}, out_blobs

    def _plain_result(self, value, keep: list[int]):
        """The result as plain data; the opaque parts (a cache) stay here as handles."""
        if isinstance(value, (tuple, list)):
            # A namedtuple or other subclass comes back as a plain tuple or list, read by
            # the base type's own iterator (never an __iter__ the student wrote).
            kind = list if isinstance(value, list) else tuple
            items = list(list.__iter__(value) if kind is list else tuple.__iter__(value))
            return kind(Handle(self._keep(v), type(v).__name__) if i in keep
                        else self._plain(v) for i, v in enumerate(items))
        return self._plain(value)

    def _plain(self, value, depth: int = 0):
        """Exactly the types the judge checks (by ``type``, which no ``__class__`` property
        fools): tensors, numpy arrays and scalars, Python scalars and strings, tuples, lists
        and dicts of them. Anything else (a tensor subclass, a look-alike) stays here and
        goes back as a handle, which the judge reports as the wrong type."""
        torch, kind = self.torch, type(value)
        if value is None or kind in (bool, int, float, complex, str) or kind is torch.Tensor \
                or kind is self.np.ndarray or kind in self.np_scalars or kind is torch.dtype \
                or kind is torch.device or kind is Handle:
            return value
        if depth < 20 and isinstance(value, (tuple, list)):
            items = list.__iter__(value) if isinstance(value, list) else tuple.__iter__(value)
            plain = [self._plain(v, depth + 1) for v in items]
            return plain if isinstance(value, list) else tuple(plain)
        if depth < 20 and isinstance(value, dict):
            return {k: self._plain(v, depth + 1) for k, v in dict.items(value)
                    if type(k) in (str, int)}
        return Handle(self._keep(value), kind.__name__)

    def _autograd_left(self, rules: list[str], value, args) -> list[str]:
        """Autograd state left in the outputs or the cache (arguments)."""
        if "autograd" not in rules:
            return []
        try:
            return self.watch.autograd_left([value, list(args)])
        except ForbiddenOperation:
            raise
        except BaseException as exc:  # a student object that resists being read
            return [f"tampering: the outputs could not be inspected ({type(exc).__name__})"]

    def _probe(self, msg: dict) -> dict:
        """The guard's answer to a banned operator, for the judge: a missing or wrong
        answer (the nonce) means the guard was disabled."""
        try:
            problem = self.watch.probe() if type(self.watch).probe is _PROBE \
                else "the guard's probe was replaced"
        except BaseException as exc:
            problem = f"the probe raised {type(exc).__name__}"
        return {"nonce": msg.get("nonce"), "ok": problem is None, "problem": problem}


def enumerate_shared(msg: dict) -> list:
    items = msg["args"].get("items", []) if isinstance(msg["args"], dict) else []
    return [(i, items[i]) for i in msg.get("shm") or () if 0 <= i < len(items)]


def _describe(exc: BaseException) -> dict:
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if "/source/" in f.filename.replace(os.sep, "/")]
    where = mine[-1] if mine else (frames[-1] if frames else None)
    location = (f"{os.path.basename(where.filename)}, line {where.lineno}, in {where.name}"
                if where else "")
    return {"type": type(exc).__name__, "message": str(exc)[:2000], "where": location}


if __name__ == "__main__":
    zygote(int(sys.argv[1]), json.loads(sys.argv[2]))
    # Every child is reaped and nothing is left to write: skip the interpreter's teardown,
    # which with torch loaded costs about a second of CPU, all of it on the judge's wait in
    # Sandbox.close (the last step before the reports of a batch are written).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
