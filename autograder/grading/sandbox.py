"""The judge's side of the isolation: start workers, copy submissions, call, kill.

The judge never imports student code. Each grading slot owns one *zygote* process
(``child/server.py``) that has torch loaded; for each submission the zygote forks a fresh
child that confines itself (``child/confine.py``: Landlock, namespaces, limits) and runs
the student's code on a private copy of the submission's ``source/`` folder. Every call
has a wall-clock deadline enforced from here by killing the child. When the grader runs
as root the child also runs as an unprivileged user of its own (one per slot), and
everything that user started is killed after each submission.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import assignment, files, results
from .child import wire
from .child.wire import Codec, Handle, ProtocolError, recv_msg, send_msg

COURSE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = COURSE_DIR.parent
SERVER = Path(wire.__file__).with_name("server.py")
SANDBOX_UID_BASE = 61000
UID_LOCKS = Path("/run/autograder-uids")
MAX_FILE_BYTES = 2 << 20
MAX_TOTAL_BYTES = 20 << 20
MAX_FILES = 200
OUTPUT_TAIL = 4000


@dataclass
class Limits:
    memory_bytes: int = 3 << 30
    file_bytes: int = 16 << 20
    cpu_seconds: int = 600
    max_processes: int = 4  # the child and three more; with no cgroup, memory is split
    start_timeout: float = 120.0
    scratch_bytes: int = 64 << 20  # the tmpfs holding the child's only writable folder


#: The flag (and the student's message) when the child made a thread or a process: the
#: seccomp filter kills it with SIGSYS (child/confine.py). A "tampering" label, so the test
#: that made it scores 0 whatever its earlier cases passed, like a banned operator.
THREADS = ("started a thread or a process (or ran a program), which the grader does not "
           "allow: student code runs on one thread in one process")
THREADS_LABEL = f"{assignment.TAMPERING}: {THREADS}"
_SIGNAL_HINTS = {
    "SIGSEGV": "a crash in native code, e.g. memory read out of bounds through as_strided, "
               "ctypes or numpy",
    "SIGBUS": "a crash in native code (bad memory access)",
    "SIGABRT": "os.abort(), or a failed check inside a library",
    "SIGFPE": "a crash in native code (an arithmetic fault)",
    "SIGILL": "a crash in native code (an illegal instruction)",
}


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


@dataclass
class Death:
    """Why the student's process ended, as the judge knows it: the zygote (its parent)
    reports the exit status and CPU time when it reaps it; the memory cgroup's own counter
    says whether the kernel's out-of-memory killer chose it."""

    signal: int | None = None
    exit_code: int | None = None
    cpu_s: float = 0.0
    oom_kill: bool = False
    closed: bool = False  # it closed the grader's connection and was stopped by the judge
    memory_bytes: int = 0
    cgroup: bool = False
    cpu_limit: int = 0

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signal).name
        except (ValueError, TypeError):
            return f"signal {self.signal}"

    @property
    def cause(self) -> str:
        """One word: threads, memory, cpu, closed, signal, exit, unknown."""
        if self.closed:
            return "closed"
        if self.oom_kill:
            return "memory"
        if self.signal == signal.SIGSYS:
            return "threads"
        if self.signal == signal.SIGXCPU or (
                self.signal == signal.SIGKILL and self.cpu_limit
                and self.cpu_s >= self.cpu_limit - 0.05):
            return "cpu"
        if self.signal is not None:
            return "signal"
        return "exit" if self.exit_code is not None else "unknown"

    def describe(self) -> str:
        cause = self.cause
        if cause == "closed":
            return "closed its connection to the grader instead of returning, and was stopped"
        if cause == "memory":
            return (f"used more memory than the limit ({_mib(self.memory_bytes)} for all of "
                    "your processes together) and was stopped by the kernel (out of memory)")
        if cause == "threads":
            return (f"{THREADS}, and was stopped (SIGSYS). Compute in the calling thread; "
                    "(SIGSYS also ends a process that makes another system call the grader "
                    "does not allow)")
        if cause == "cpu":
            return (f"used more than its CPU time limit of {self.cpu_limit} s and was "
                    f"stopped ({self.signal_name})")
        if cause == "signal":
            name = self.signal_name
            hint = _SIGNAL_HINTS.get(name)
            if name == "SIGKILL":
                hint = ("from outside the grader's control; without a memory cgroup this is "
                        "most often the machine running out of memory"
                        if not self.cgroup else "not by the grader's limits")
            return f"was ended by {name}" + (f" ({hint})" if hint else "")
        if cause == "exit":
            return (f"ended the grading process with exit status {self.exit_code} "
                    f"(os._exit({self.exit_code}), or sys.exit from a thread) instead of "
                    "returning")
        return "ended the grading process (os._exit, a crash, or too much memory)"


@dataclass
class CallResult:
    ok: bool
    value: object = None
    args_after: list | None = None
    error: dict | None = None
    stage: str = ""
    forbidden: list[str] = field(default_factory=list)
    timed_out: bool = False
    crashed: bool = False
    elapsed: float = 0.0
    output: str = ""
    guard: str | None = None  # why the guard's probe failed (None: it answered, or no call)
    # The student's process answered, but the judge could not read the answer: the
    # grader's failure, not the student's (the test is held for review, not scored).
    grader_error: str = ""
    # Why the process ended (crashed only): what the zygote and the cgroup report.
    death: Death | None = None
    scratch_bytes: int = 0  # the scratch tmpfs's size, to explain a full one (ENOSPC)
    # A latency request's own answer (latency.py): the runs' CPU-clock spans, the fastest,
    # and the child's CPU time over the whole request as the kernel counted it.
    timing: dict = field(default_factory=dict)

    def describe(self) -> str:
        """A sentence for the student about what went wrong."""
        if self.grader_error:
            return ("returned a value that the grader could not read back; this is the "
                    "grader's problem, not yours, and the test will be reviewed")
        if self.timed_out:
            return "did not finish before the time limit (infinite loop, or far too slow)"
        if self.crashed:
            tail = f" Last output: {self.output.strip()[-300:]}" if self.output.strip() else ""
            why = self.death.describe() if self.death else (
                "ended the grading process (os._exit, a crash, or too much memory) instead "
                "of returning")
            return f"{why}.{tail}"
        if self.error:
            err = self.error
            where = f" ({err.get('where')})" if err.get("where") else ""
            what = "importing your module raised" if self.stage == "import" else "raised"
            full = ""
            if self.scratch_bytes and "[Errno 28]" in str(err.get("message", "")):
                full = (f": the scratch space is full (limit {_mib(self.scratch_bytes)}, all "
                        "files of your process together)")
            return f"{what} {err.get('type')}: {err.get('message')}{where}{full}"
        return "returned"


def _claim_uid() -> tuple[int, int]:
    """A sandbox user id no other live Sandbox holds, in any process.

    Cleanup kills every process of the sandbox user, so two graders sharing one id would
    kill each other's children. The claim is an exclusive flock on a file in a folder only
    root can write; it ends when the Sandbox closes or its process dies.
    """
    # A fixed place under /run (root's own), never $TMPDIR: a folder another user made
    # there first would let them see or block the claims.
    folder = UID_LOCKS
    try:
        folder.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
        raise SandboxUnavailable(f"{folder} must be a folder of root's with mode 0700; "
                                 "remove it to let the grader make it")
    for uid in range(SANDBOX_UID_BASE, SANDBOX_UID_BASE + 4096):
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if _uid_in_use(uid):  # a process of it runs (a grader that keeps its locks elsewhere)
            os.close(fd)
            continue
        return uid, fd
    raise RuntimeError("no free sandbox user id")


def _uid_in_use(uid: int) -> bool:
    """Whether any process runs as uid: cleanup kills every process of the sandbox user, so
    an id in use by anyone else is never taken."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    return True
            except OSError:
                continue
    return False


def _can_drop_privileges() -> bool:
    return os.geteuid() == 0


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot give what was required (``--require-sandbox``), or cannot run."""


def _own_cgroup(controller: str) -> Path | None:
    """This process's cgroup folder for a v1 controller, or its v2 folder ("")."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller and controller in controllers.split(","):
            return Path("/sys/fs/cgroup", controller, path.lstrip("/"))
        if not controller and controllers == "":
            return Path("/sys/fs/cgroup", path.lstrip("/"))
    return None


def make_memory_cgroup(name: str, limit_bytes: int) -> Path | None:
    """A memory cgroup for all of one slot's student processes, where this process may
    make one (root, or a delegated cgroup v2 subtree); None where it may not."""
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    parent = _own_cgroup("" if v2 else "memory")
    if parent is None:
        return None
    folder = parent / name
    limit_file = "memory.max" if v2 else "memory.limit_in_bytes"
    try:
        folder.mkdir(exist_ok=True)
        (folder / limit_file).write_text(str(limit_bytes))
        swap = folder / ("memory.swap.max" if v2 else "memory.memsw.limit_in_bytes")
        if swap.exists():
            try:
                swap.write_text("0" if v2 else str(limit_bytes))
            except OSError:
                pass
        return folder
    except OSError:
        try:
            folder.rmdir()
        except OSError:
            pass
        return None


def oom_kills(folder: Path | None) -> int:
    """How many processes the kernel's out-of-memory killer has ended in this cgroup."""
    if folder is None:
        return 0
    for name in ("memory.events", "memory.oom_control"):  # v2, v1
        try:
            lines = (folder / name).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    return 0


def kill_cgroup(folder: Path | None, remove: bool = False) -> None:
    if folder is None:
        return
    for _ in range(20):
        try:
            pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
    if remove:
        try:
            folder.rmdir()
        except OSError:
            pass


def copy_submission_source(submission: Path, dest: Path) -> list[str]:
    """Copy submission/source into dest/source, safely. Returns notes on what was skipped.

    Only regular files travel (``files.walk``: no links, bounded depth and count); files
    that are compiled code or too large are left behind and reported.
    """
    src = submission / "source"
    (dest / "source").mkdir(parents=True)
    listing = files.walk(src, "source")
    notes = list(listing.notes)
    total = count = 0
    for rel, st in listing.files:
        if rel.endswith((".pyc", ".so")):
            continue
        if st.st_size > MAX_FILE_BYTES:
            notes.append(f"source/{files.shown(rel)} is {st.st_size} bytes, over the "
                         f"{MAX_FILE_BYTES} byte limit, and was ignored")
            continue
        count += 1
        total += st.st_size
        if count > MAX_FILES or total > MAX_TOTAL_BYTES:
            notes.append("source/ holds too many or too large files; the rest was ignored")
            break
        target = dest / "source" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(src / rel, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            notes.append(f"source/{files.shown(rel)} could not be read ({exc.strerror})")
            continue
        with open(fd, "rb") as fin, open(target, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    return notes


class Sandbox:
    """One grading slot: a zygote and the child it forked for the current submission.

    ``facilities`` says what confinement is in force (the zygote probes it at start);
    ``notes`` names, in words, each protection that is missing (a degraded sandbox), and
    ``require=True`` turns any of them into ``SandboxUnavailable`` at start.
    """

    def __init__(self, slot: int = 0, limits: Limits | None = None, require: bool = False,
                 disable: tuple[str, ...] = ()):
        self.slot = slot
        # Protections switched off, for the tests that prove each one matters:
        # "landlock", "netns", "cgroup", "seccomp", "mount" (the root-only mount namespace),
        # "threads" (the seccomp kill of thread and process creation), "scratch" (its tmpfs).
        self.disable = tuple(disable)
        self.limits = limits or Limits()
        self.require = require
        self.uid, self._uid_lock = _claim_uid() if _can_drop_privileges() else (None, None)
        self.proc: subprocess.Popen | None = None
        self.ctl: socket.socket | None = None
        self.cgroup: Path | None = None
        self.facilities: dict = {}
        self.notes: list[str] = []
        self.tmp = Path(tempfile.mkdtemp(prefix=f"autograder-slot{slot}-"))
        self.tmp.chmod(0o711)

    # ------------------------------------------------------------ zygote
    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the zygote without waiting for it: the judge can import torch meanwhile."""
        if self.cgroup is None and "cgroup" not in self.disable:
            self.cgroup = make_memory_cgroup(f"autograder-{os.getpid()}-slot{self.slot}",
                                             self.limits.memory_bytes)
        probe_dir = self.tmp / "probe"
        probe_dir.mkdir(exist_ok=True)
        if self.uid is not None:
            os.chown(probe_dir, self.uid, self.uid)
        config = {"uid": self.uid, "cgroup": str(self.cgroup) if self.cgroup else None,
                  "secret_roots": [str(REPO_DIR)], "probe_dir": str(probe_dir),
                  "memory_bytes": self.limits.memory_bytes,
                  "max_processes": self.limits.max_processes,
                  "file_bytes": self.limits.file_bytes, "cpu_seconds": self.limits.cpu_seconds,
                  "scratch_bytes": self.limits.scratch_bytes,
                  "disable": list(self.disable), "bans": assignment.guard_config()}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # One thread in every library pool (the zygote also sets these itself before
        # numpy and torch load): the child may not start a thread.
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "HOME": str(self.tmp), "PYTHONDONTWRITEBYTECODE": "1"}
        log = open(self.tmp / "zygote.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(SERVER), str(theirs.fileno()), json.dumps(config)],
            pass_fds=[theirs.fileno()], env=env, cwd=self.tmp, stdin=subprocess.DEVNULL,
            stdout=log, stderr=log, start_new_session=True)
        log.close()
        theirs.close()
        self.ctl = ours

    def wait_ready(self) -> None:
        """Wait for the zygote's ready message; read what confinement is in force."""
        ours = self.ctl
        ours.settimeout(self.limits.start_timeout)
        try:
            ready = json.loads(ours.recv(1 << 16) or b"{}")
        except (OSError, ValueError):
            ready = {}
        if not ready.get("ready"):
            log_text = (self.tmp / "zygote.log").read_text(errors="replace")[-2000:]
            self.close()
            raise SandboxUnavailable("the grading worker did not start: "
                                     f"{ready.get('error', '')}\n{log_text}".strip())
        self.facilities = ready.get("facilities", {})
        self.notes = self._degraded(self.facilities)
        if self.require and self.notes:
            self.close()
            raise SandboxUnavailable("the sandbox is incomplete (--require-sandbox): "
                                     + "; ".join(self.notes))

    @staticmethod
    def _degraded(facts: dict) -> list[str]:
        """What is missing, in words; fatal problems raise instead."""
        confined = facts.get("confined", {})
        if "error" in confined:
            raise SandboxUnavailable(f"the sandbox could not confine a process: "
                                     f"{confined['error']}")
        if not confined.get("stdlib", False):
            raise SandboxUnavailable(
                "a sandboxed process cannot read the Python standard library; honest code "
                "importing e.g. pdb would fail. Install the environment in a folder every "
                "user can read, or grade as an ordinary user.")
        notes = list(facts.get("missing", []))
        if confined.get("secret") and facts.get("landlock_abi", 0):
            notes.append("Landlock is on but the checkout is still readable")
        if confined.get("tmp") and facts.get("landlock_abi", 0):
            notes.append("Landlock is on but /tmp is still writable")
        if not facts.get("cgroup"):
            notes.append(f"no memory cgroup: memory is bounded as {facts.get('memory')}")
        return notes

    def _control(self, msg: dict, fds: list[int] = ()) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        wire.send_with_fds(self.ctl, msg, list(fds)) if fds else \
            self.ctl.send(json.dumps(msg).encode())
        self.ctl.settimeout(60)
        return json.loads(self.ctl.recv(1 << 16))

    def prepare(self, submission: Path) -> tuple[Path, list[str]]:
        """A private copy of the submission's source/, owned by the sandbox user: the only
        folder its code may write (its scratch space), removed after the submission."""
        work = Path(tempfile.mkdtemp(prefix="sub-", dir=self.tmp))
        notes = copy_submission_source(submission, work)
        if self.uid is not None:
            for root, dirs, files in os.walk(work):
                for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                    os.chown(name, self.uid, self.uid)
            work.chmod(0o700)
        return work, notes

    def spawn(self, workdir: Path) -> Child:
        ours, theirs = socket.socketpair()
        output = workdir.parent / (workdir.name + ".out")
        spec = {"cmd": "spawn", "dir": str(workdir), "output": str(output),
                "env": {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir),
                        "TMPDIR": str(workdir), "OMP_NUM_THREADS": "1",
                        "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                        "PYTHONDONTWRITEBYTECODE": "1"}}
        ooms = oom_kills(self.cgroup)  # before the child exists: its own kills are the rest
        try:
            reply = self._control(spec, [theirs.fileno()])
        finally:
            theirs.close()
        return Child(ours, int(reply["pid"]), output, sandbox=self, oom_before=ooms)

    def child_status(self, pid: int, wait: float) -> dict:
        """How the child `pid` ended, from the zygote that reaps it ({} if unknown)."""
        try:
            return self._control({"cmd": "status", "pid": pid, "wait": wait})
        except (OSError, ValueError):
            return {}

    def cleanup(self) -> None:
        """Kill everything the last submission left running."""
        kill_cgroup(self.cgroup)
        try:
            self._control({"cmd": "cleanup", "uid": self.uid})
        except (OSError, ValueError):
            self.restart()

    def restart(self) -> None:
        self.close(remove_tmp=False)
        self.start()

    def close(self, remove_tmp: bool = True) -> None:
        if self.proc is not None:
            try:
                self.ctl.send(json.dumps({"cmd": "exit"}).encode())
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        kill_cgroup(self.cgroup, remove=remove_tmp)
        if remove_tmp:
            self.cgroup = None
            files.remove_tree(self.tmp)
            if self._uid_lock is not None:
                os.close(self._uid_lock)  # the user id is free for another sandbox
                self._uid_lock = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Child:
    """The process running one submission's code; talks the wire format of child/wire.py."""

    def __init__(self, sock: socket.socket, pid: int, output: Path,
                 sandbox: Sandbox | None = None, oom_before: int = 0):
        self.sock, self.pid, self.output = sock, pid, output
        self.sandbox, self.oom_before = sandbox, oom_before
        self.alive = True
        self.reaped = False
        import numpy
        import torch

        self.codec = Codec(torch, numpy)

    def _exchange(self, msg: dict, blobs: list[bytes], timeout: float,
                  fds: list[int] = ()) -> CallResult:
        deadline = time.monotonic() + max(timeout, 0.01)
        try:
            self.sock.settimeout(max(timeout, 0.01))
            send_msg(self.sock, msg, blobs)
            if fds:
                wire.send_with_fds(self.sock, {"shm": len(fds)}, list(fds))
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            reply, reply_blobs = recv_msg(self.sock, deadline=deadline)
        except TimeoutError:
            self.kill()
            return CallResult(False, timed_out=True, output=self.read_output())
        except (EOFError, OSError, ProtocolError) as exc:
            crashed = not isinstance(exc, ProtocolError)
            death = self.death() if crashed else None
            self.kill()
            result = CallResult(False, crashed=crashed, output=self.read_output(),
                                error=None if crashed else {"type": "ProtocolError",
                                                            "message": str(exc)},
                                death=death)
            if death is not None and death.cause == "threads":
                result.forbidden = [THREADS_LABEL]
            return result
        guard = _guard_problem(reply, msg) if msg.get("cmd") in ("call", "time") else None
        if not reply.get("ok"):
            error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
            forbidden = _str_list(reply.get("forbidden"))
            families = {f.split(":")[0] for f in forbidden}
            forbidden += [d for d in _denied(error) if d.split(":")[0] not in families]
            return CallResult(False, error=error, stage=str(reply.get("stage", "")),
                              forbidden=forbidden, guard=guard,
                              scratch_bytes=self._scratch_bytes())
        try:
            value = self.codec.decode(reply.get("value", {"t": "py", "v": None}), reply_blobs)
            after = self.codec.decode(reply.get("args_after", {"t": "list", "items": []}),
                                      reply_blobs)
        except Exception as exc:  # untrusted bytes: any failure to read them is ours to review
            self.kill()
            return CallResult(False, grader_error=f"unreadable result ({type(exc).__name__}: "
                                                  f"{str(exc)[:120]})")
        return CallResult(True, value=value, args_after=after,
                          forbidden=_str_list(reply.get("forbidden")),
                          elapsed=float(reply.get("elapsed", 0.0)), guard=guard,
                          timing={k: reply[k] for k in ("spans", "best") if k in reply})

    def _scratch_bytes(self) -> int:
        box = self.sandbox
        return box.limits.scratch_bytes if box and box.facilities.get("scratch") else 0

    def death(self) -> Death | None:
        """Why the process ended (its connection closed): the zygote reaps it and reports
        its exit status; one that closed the connection but still runs is stopped first."""
        if self.sandbox is None:
            return None
        status = self.sandbox.child_status(self.pid, wait=2.0)
        closed = bool(status.get("running"))
        if closed:
            self.kill()
            status = self.sandbox.child_status(self.pid, wait=5.0)
        # Reaped (or not the zygote's): its pid may be reused, so it is never signalled.
        self.reaped = not status.get("running") and bool(status)
        limits, facts = self.sandbox.limits, self.sandbox.facilities
        cgroup = self.sandbox.cgroup
        return Death(signal=_int_or_none(status.get("signal")),
                     exit_code=_int_or_none(status.get("exit_code")),
                     cpu_s=float(status.get("cpu_s") or 0.0),
                     oom_kill=oom_kills(cgroup) > self.oom_before, closed=closed,
                     memory_bytes=limits.memory_bytes, cgroup=bool(facts.get("cgroup")),
                     cpu_limit=limits.cpu_seconds)

    def load(self, module: str, timeout: float) -> CallResult:
        result = self._exchange({"cmd": "import", "module": module}, [], timeout)
        if not result.ok and not result.stage:
            result.stage = "import"  # a crash or a timeout while importing, kept as such
        return result

    def call(self, module: str, fn: str, args: list, timeout: float,
             no_autograd: bool = False, keep: tuple[int, ...] = (),
             rules: list[str] | None = None) -> CallResult:
        """Call source.<module>.<fn>(*args) in the child.

        keep: positions in a returned tuple that stay in the child (e.g. a cache) and come
        back as Handle objects, to be passed to a later call.
        """
        blobs: list[bytes] = []
        enc = self.codec.encode(list(args), blobs)
        # Tensor arguments also travel in memory shared with the child, read back here
        # after the call: whether the student's code modified its inputs is seen by the
        # judge, not reported by the student's process.
        shared = [i for i, a in enumerate(args) if wire.shareable(self.codec.torch, a)]
        # The memory holds exactly the bytes of the argument's blob (its dense base, in the
        # layout the codec chose), so the codec reads it back with its own rules.
        fds = [_memfd(blobs[enc["items"][i]["i"]]) for i in shared]
        msg = {"cmd": "call", "module": module, "fn": fn, "args": enc, "keep": list(keep),
               "rules": rules if rules is not None else assignment.rules_for(module),
               "nonce": secrets.token_hex(8), "shm": shared}
        try:
            result = self._exchange(msg, blobs, timeout, fds)
            if result.ok and isinstance(result.args_after, list):
                for i, fd in zip(shared, fds):
                    if i < len(result.args_after):
                        result.args_after[i] = _read_memfd(fd, enc["items"][i], len(
                            blobs[enc["items"][i]["i"]]), self.codec)
            return result
        finally:
            for fd in fds:
                os.close(fd)

    def time_runs(self, request: dict, runs: list[list], timeout: float) -> CallResult:
        """One latency request (child/server.py's ``time``): ``runs`` are the inputs of each
        run. The child's CPU time over the whole request is read here, from the kernel, so
        that what the child reports about its runs can be checked (latency.py)."""
        blobs: list[bytes] = []
        msg = dict(request, cmd="time", args=self.codec.encode(runs, blobs),
                   nonce=secrets.token_hex(8))
        before = cpu_ns(self.pid)
        result = self._exchange(msg, blobs, timeout)
        after = cpu_ns(self.pid) if result.ok else None
        if before is not None and after is not None:
            result.timing.update(before_ns=before, after_ns=after)
        return result

    def read_output(self) -> str:
        try:
            with open(self.output, "rb") as fh:
                return fh.read(OUTPUT_TAIL).decode("utf-8", "replace")
        except OSError:
            return ""

    def kill(self) -> None:
        if self.reaped and self.alive:
            self.alive = False
            self.sock.close()
        if not self.alive:
            return
        self.alive = False
        for fn in (os.killpg, os.kill):
            try:
                fn(self.pid, signal.SIGKILL)
            except OSError:
                pass
        self.sock.close()

    def close(self) -> None:
        if self.alive:
            try:
                send_msg(self.sock, {"cmd": "exit"})
            except OSError:
                pass
        self.kill()


def cpu_ns(pid: int) -> int | None:
    """The kernel's CPU clock of process ``pid``, read from outside it (the clock id of
    clock_getcpuclockid(3): ``~pid << 3 | CPUCLOCK_SCHED``); None where it cannot be read.
    Nothing the process itself does changes what this clock says it used."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2)
    except (OSError, OverflowError):
        return None


def _int_or_none(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _memfd(data: bytes) -> int:
    fd = os.memfd_create("autograder-arg", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return fd


def _read_memfd(fd: int, enc: dict, size: int, codec: Codec):
    """The argument's memory after the call, decoded like the argument itself."""
    data = os.pread(fd, size + 1, 0)
    if len(data) != size:
        return None  # truncated or grown: not the input it was
    return codec.decode(dict(enc, i=0), [data])


def _guard_problem(reply: dict, msg: dict) -> str | None:
    """None when the child's guard answered its probe for this very call."""
    answer = reply.get("guard")
    if not isinstance(answer, dict) or answer.get("nonce") != msg.get("nonce"):
        return "the guard did not answer"
    if answer.get("ok") is not True:
        return str(answer.get("problem") or "the guard failed its probe")[:200]
    return None


def _denied(error: dict) -> list[str]:
    """A ForbiddenOperation raised by the guard counts even when its record was erased."""
    if error.get("type") != "ForbiddenOperation":
        return []
    message = str(error.get("message", ""))
    for name, family in assignment.FAMILIES.items():
        if message.startswith(f"{family.label} is not allowed"):
            return [f"{name}: {message[:200]}"]
    return [f"tampering: {message[:200]}"]


def _str_list(value) -> list[str]:
    """What the child reports as banned uses: only labels of a known family, short, few.
    Anything else is text a student could plant to smuggle data into the flags."""
    if not isinstance(value, list):
        return []
    families = set(assignment.FAMILIES) | {assignment.TAMPERING}
    labels = [results.clean_text(v, 160) for v in value if isinstance(v, str)]
    return [v for v in labels if v.split(":", 1)[0] in families][:20]


__all__ = ["CallResult", "Child", "Death", "Handle", "Limits", "Sandbox", "SandboxUnavailable",
           "THREADS", "copy_submission_source"]
