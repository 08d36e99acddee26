"""The sandbox holds as root and as an ordinary user: each attack class of the threat model
is planted in a submission of one class, graded by the real command in both modes.

As root (CI, Gradescope) the child also drops to a sandbox user inside a private mount
namespace; as an ordinary user (an instructor's laptop) there is no uid drop and no
memory cgroup, and Landlock, the network namespace and the process cap do the work. Each
attack reports in its error message what it managed, so a failure shows what got through;
the assertions read both that report and what is on disk afterwards. The last tests switch
protections off and show the same attacks then succeed, so none of this passes vacuously.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from autograder import build
from autograder.grading import files, grade
from autograder.grading import sandbox as sandbox_mod
from autograder.grading.sandbox import Sandbox
from tests.ordinary_user import REPO, run_as_user, user_folder

IS_ROOT = os.geteuid() == 0
MASTER_CC = build.MASTER / "source" / "cross_correlation.py"
VARIANT = REPO / "tests" / "variants" / "correct" / "cc_double_loop.py"
GIB = 1 << 30

# Each attack defines cross_corr_2d; it raises RuntimeError("REPORT " + json) with what it
# managed, or returns the right answer when it stole one.
STEAL = f'''
import json, os, sys
from pathlib import Path

TARGETS = [{str(MASTER_CC)!r}, {str(REPO / ".git" / "HEAD")!r}, {str(VARIANT)!r},
           {str(REPO / "autograder" / "grading" / "hidden_tests.py")!r},
           {str(REPO / "written_answers.md")!r}]
for entry in list(sys.path) + [os.getcwd()]:
    for parent in Path(entry).resolve().parents:
        TARGETS.append(str(parent / "autograder" / "master" / "hw1" / "source"
                           / "cross_correlation.py"))
        TARGETS.append(str(parent / ".git" / "HEAD"))


def cross_corr_2d(X, K):
    readable = []
    for target in TARGETS:
        try:
            text = Path(target).read_text()
        except OSError:
            continue
        readable.append(target)
        if target.endswith("cross_correlation.py") and "BEGIN SOLUTION" in text:
            namespace = {{}}
            exec(compile(text, "stolen", "exec"), namespace)
            return namespace["cross_corr_2d"](X, K)
    raise RuntimeError("REPORT " + json.dumps({{"readable": readable}}))
'''

SNOOP = '''
import json, os


def cross_corr_2d(X, K):
    mine = os.getpid()
    seen = []
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        pids = [str(p) for p in range(1, 4 << 15)]
    for pid in pids:
        if int(pid) == mine:
            continue
        for what in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as fh:
                    if fh.read(1):
                        seen.append(f"{pid}/{what}")
            except OSError:
                pass
    raise RuntimeError("REPORT " + json.dumps({"foreign_proc": seen[:20], "n": len(seen)}))
'''

WRITE = '''
import json, os

TARGETS = %r


def cross_corr_2d(X, K):
    wrote = []
    for target in TARGETS:
        try:
            with open(target, "a") as fh:
                fh.write("forged\\n")
            wrote.append(target)
        except OSError:
            pass
    raise RuntimeError("REPORT " + json.dumps({"wrote": wrote}))
'''

SIGNAL = '''
import json, os, signal

TARGETS = %r


def cross_corr_2d(X, K):
    sent = []
    for pid in TARGETS + [os.getppid()]:
        try:
            os.kill(pid, signal.SIGCONT)  # harmless if it arrives
            sent.append(pid)
        except OSError:
            pass
    raise RuntimeError("REPORT " + json.dumps({"signalled": sent}))
'''

NETWORK = '''
import json, socket

PORT = %d


def cross_corr_2d(X, K):
    connected = []
    for host in ("127.0.0.1", "::1"):
        try:
            socket.create_connection((host, PORT), timeout=1).close()
            connected.append(host)
        except OSError:
            pass
    raise RuntimeError("REPORT " + json.dumps({"connected": connected}))
'''

MEMORY = '''
import json, os, time

SIZE = %d


def cross_corr_2d(X, K):
    held = 0
    pipes = []
    for _ in range(3):
        r, w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            try:
                block = bytearray(SIZE)
                block[::4096] = b"x" * len(block[::4096])  # touch every page
                os.write(w, b"1")
                time.sleep(30)
            finally:
                os._exit(0)
        os.close(w)
        pipes.append(r)
    deadline = time.time() + 20
    for r in pipes:
        os.set_blocking(r, False)
    while time.time() < deadline and pipes:
        for r in list(pipes):
            try:
                data = os.read(r, 1)
            except BlockingIOError:
                continue
            held += data == b"1"
            pipes.remove(r)
        time.sleep(0.05)
    raise RuntimeError("REPORT " + json.dumps({"held_together": held}))
'''

# What Landlock does not mediate, found by a red-team pass: modes (open up the checkout,
# a setuid copy of the interpreter), other processes' limits and priorities, keyrings that
# outlive the process, memfd memory, unix sockets by path. Every attempt leaves things as
# they were if it succeeds (same mode, same priority, a read-only limit query).
KERNEL = '''
import ctypes, json, os, resource, socket, sys

CHECKOUT = %r
SOCKET = %r


def _try(report, name, action):
    try:
        action()
        report.append(name)
    except OSError:
        pass


def cross_corr_2d(X, K):
    done = []
    for path in (CHECKOUT, os.path.realpath(sys.executable)):
        _try(done, "chmod " + path, lambda p=path: os.chmod(p, os.stat(p).st_mode & 0o7777))
    _try(done, "setuid file", lambda: os.close(os.open("made", os.O_CREAT | os.O_WRONLY, 0o4755)))
    _try(done, "memfd", lambda: os.close(os.memfd_create("x")))
    others = 0
    for pid in range(2, 1 << 16):
        if pid == os.getpid():
            continue
        try:
            resource.prlimit(pid, resource.RLIMIT_CPU)
            others += 1
        except (OSError, ValueError):
            pass
    if others:
        done.append(f"prlimit on {others} other processes")
    _try(done, "setpriority", lambda: os.setpriority(os.PRIO_PROCESS, os.getppid(),
                                                     os.getpriority(os.PRIO_PROCESS, os.getppid())))
    libc = ctypes.CDLL(None, use_errno=True)
    key = libc.syscall(248, b"user", b"hw1", b"secret", 6, -4)  # add_key, user keyring
    if key >= 0:
        done.append("keyring")
    _try(done, "unix socket", lambda: socket.socket(socket.AF_UNIX).connect(SOCKET))
    raise RuntimeError("REPORT " + json.dumps({"done": done}))
'''

# Text that broke the reports: a lone surrogate, a terminal escape, a bidi override.
BAD_TEXT = '''
def cross_corr_2d(X, K):
    raise RuntimeError("\\ud800 \\x1b[2J\\x1b]0;owned\\x07 \\u202e reversed")
'''

# A banned call made away from the guard: on a thread of the student's (torch keeps its
# dispatch modes per thread) or in a process of its own. Each route computes the right answer
# with F.conv2d there and returns it; the seccomp filter kills the child at the first clone,
# clone3, fork or vfork, so none may score, and each is flagged.
# (The name is computed, so that the static check does not see it: only the run-time
# guard could, and it watches the calling thread only.)
_CONV = ('getattr(torch.nn.functional, "d2vnoc"[::-1])(X[None, None], '
         'K[None, None].to(X.dtype))[0, 0]')
_SPAWN = ('''import json, os, subprocess, sys
_CODE = ("import json, sys, torch; X, K = (torch.tensor(v) for v in json.loads(sys.argv[1])); "
         "print(json.dumps(torch.nn.functional.conv2d(X[None, None], K[None, None])[0, 0]"
         ".tolist()))")
''')
THREAD_ROUTES = {
    "threading": f'''
import threading


def cross_corr_2d(X, K):
    box = {{}}
    worker = threading.Thread(target=lambda: box.setdefault("y", {_CONV}))
    worker.start()
    worker.join()
    return box["y"]
''',
    "_thread": f'''
import _thread
import time


def cross_corr_2d(X, K):
    box = {{}}
    _thread.start_new_thread(lambda: box.setdefault("y", {_CONV}), ())
    while "y" not in box:
        time.sleep(0.01)
    return box["y"]
''',
    "thread_pool": f'''
from concurrent.futures import ThreadPoolExecutor


def cross_corr_2d(X, K):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: {_CONV}).result()
''',
    "process_pool": f'''
from concurrent.futures import ProcessPoolExecutor


def _conv(X, K):
    return {_CONV}


def cross_corr_2d(X, K):
    with ProcessPoolExecutor(1) as pool:
        return pool.submit(_conv, X, K).result()
''',
    "multiprocessing": f'''
import multiprocessing


def _conv(conn, X, K):
    conn.send({_CONV})


def cross_corr_2d(X, K):
    ours, theirs = multiprocessing.Pipe()  # a socket pair: no semaphore in /dev/shm
    worker = multiprocessing.get_context("fork").Process(target=_conv, args=(theirs, X, K))
    worker.start()
    value = ours.recv()
    worker.join()
    return value
''',
    "os_fork": f'''
import os
import pickle


def cross_corr_2d(X, K):
    r, w = os.pipe()
    if os.fork() == 0:  # the new process has no guard of its own to fear
        os.write(w, pickle.dumps({_CONV}))
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    return pickle.loads(data)
''',
    "posix_spawn": _SPAWN + '''

def cross_corr_2d(X, K):
    args = json.dumps([X.tolist(), K.tolist()])
    out = os.path.abspath("out.json")
    pid = os.posix_spawn(sys.executable, [sys.executable, "-c", _CODE, args], dict(os.environ),
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, out,
                                        os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)])
    os.waitpid(pid, 0)
    with open(out) as fh:
        return torch.tensor(json.load(fh), dtype=X.dtype)
''',
    "subprocess": _SPAWN + '''

def cross_corr_2d(X, K):
    args = json.dumps([X.tolist(), K.tolist()])
    done = subprocess.run([sys.executable, "-c", _CODE, args], check=True,
                          capture_output=True, text=True)
    return torch.tensor(json.loads(done.stdout), dtype=X.dtype)
''',
}

# New user namespaces (issue 22a), tried by behaviour: a raw clone(CLONE_NEWUSER) kills the
# child like any clone; unshare(CLONE_NEWUSER) fails with EPERM. A success would steal the
# points (the reference is right), so a namespace made shows as marks.
NEW_USERNS = '''
import ctypes, os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_honest = cross_corr_2d


def cross_corr_2d(X, K):
    made = []
    if %s:
        pid = _libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)  # clone(CLONE_NEWUSER | SIGCHLD)
        if pid == 0:
            os._exit(0)
        if pid > 0:
            os.waitpid(pid, 0)
            made.append("clone")
    else:
        if _libc.unshare(0x10000000) == 0:
            made.append("unshare")
        else:
            made.append("errno %%d" %% ctypes.get_errno())
    if made and not made[0].startswith("errno"):
        return _honest(X, K)
    raise RuntimeError("REPORT " + __import__("json").dumps({"made": made}))
'''

# Fills the scratch folder: 8 MiB files (under the per-file limit) until the tmpfs is full.
SCRATCH_FILL = '''
import json, os


def cross_corr_2d(X, K):
    written = 0
    for i in range(64):  # 512 MiB if nothing stopped it
        with open(f"fill{i}", "wb") as fh:
            for _ in range(8):
                fh.write(bytes(1 << 20))
                written += 1
    raise RuntimeError("REPORT " + json.dumps({"written_mib": written}))
'''

HONEST_IMPORTS = '''
import pdb  # noqa: F401 -- a leftover from debugging
import numpy.testing  # noqa: F401
import statistics  # noqa: F401
import xml.dom.minidom  # noqa: F401
'''


def _report(result: dict, test: str = "cc_worked_example") -> dict:
    output = next(t["output"] for t in result["tests"] if t["name"] == test)
    assert "REPORT " in output, output
    text = output.split("REPORT ", 1)[1]
    return json.JSONDecoder().raw_decode(text)[0]


def _section(result: dict, key: str) -> float:
    return result["sections"][key]["score"]


class ClassRun:
    """A class of attack submissions graded once by the real command in one mode."""

    def __init__(self, mode: str, base: Path):
        self.mode = mode
        self.base = base
        self.subs = base / "class"
        self.out = base / "out"
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()
        self.outside = base / "outside"  # a folder of the instructor's: must stay empty
        self.unix_path = base / "listen.sock"
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(str(self.unix_path))
        self.unix.listen(8)
        os.chmod(self.unix_path, 0o777)
        threading.Thread(target=self._accept_unix, daemon=True).start()

    def _accept_unix(self) -> None:
        while True:
            try:
                conn, _ = self.unix.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def plant(self, name: str, base: str, code: str) -> Path:
        dest = self.subs / name
        shutil.copytree(self.base / "templates" / base, dest)
        with open(dest / "source" / "cross_correlation.py", "a", encoding="utf-8") as fh:
            fh.write("\n\n" + code + "\n")
        return dest

    def build(self) -> list[Path]:
        templates = self.base / "templates"
        build.release(templates / "stub")
        build.solution(templates / "ref")
        self.outside.mkdir()
        self.out.mkdir()
        journal = self.out / "grades.json.journal.jsonl"
        classmate = self.subs / "classmate"
        subs = [
            self.plant("classmate", "ref", ""),
            self.plant("steal", "stub", STEAL),
            self.plant("snoop", "stub", SNOOP),
            self.plant("write", "stub", WRITE % [
                f"/tmp/ag-escape-{self.mode}", f"/dev/shm/ag-escape-{self.mode}",
                str(journal), str(self.out / "grades.json"),
                str(classmate / "source" / "batchnorm.py"), str(self.outside / "planted")]),
            self.plant("signal", "stub", SIGNAL % [os.getpid(), 1]),
            self.plant("network", "stub", NETWORK % self.listener.getsockname()[1]),
            self.plant("memory", "stub", MEMORY % (3 * GIB // 2)),
            self.plant("honest_imports", "ref", HONEST_IMPORTS),
            self.plant("kernel", "stub", KERNEL % (str(REPO), str(self.unix_path))),
            self.plant("bad_text", "stub", BAD_TEXT),
            self.plant("clone_newuser", "ref", NEW_USERNS % "True"),
            self.plant("unshare_newuser", "ref", NEW_USERNS % "False"),
            self.plant("scratch_fill", "stub", SCRATCH_FILL),
        ]
        subs += [self.plant(f"thread_{name}", "ref", code)
                 for name, code in THREAD_ROUTES.items()]
        subs += self._breakers()
        return subs

    def _breakers(self) -> list[Path]:
        """Submissions that break a naive batch, each built on the reference."""
        deep = self.plant("deep_tree", "ref", "")
        folder = deep / "source"
        for _ in range(1200):
            folder = folder / "d"
            os.mkdir(folder)
        loop = self.plant("symlink_loop", "ref", "")
        os.symlink("loop", loop / "source" / "loop")
        os.symlink(".", loop / "source" / "self")
        many = self.plant("many_files", "ref", "")
        os.mkdir(many / "source" / "junk")
        for i in range(100_000):
            os.close(os.open(many / "source" / "junk" / f"f{i}", os.O_CREAT | os.O_WRONLY))
        huge = self.plant("huge_notebook", "ref", "")
        with open(huge / "assignment.ipynb", "r+b") as fh:
            fh.truncate(500 << 20)  # sparse: 500 MB of size on no disk
        odd = self.plant("odd_names", "ref", "")
        for name in (b"new\nline.py", b"\xff\xfe.py", b"-rf", b" "):
            with open(os.path.join(bytes(odd / "source"), name), "wb") as fh:
                fh.write(b"x = 1\n")
        rooted = self.plant("source_is_root", "ref", "")
        shutil.rmtree(rooted / "source")
        os.symlink("/", rooted / "source")
        sparse = self.plant("sparse_file", "ref", "")
        with open(sparse / "source" / "data.bin", "wb") as fh:
            fh.truncate(8 << 40)  # 8 TiB of holes: hashing it would take hours
        unreadable = self.plant("unreadable_file", "ref", "")
        (unreadable / "source" / "secret.py").write_text("x = 1\n")
        (unreadable / "source" / "secret.py").chmod(0)
        twins = []
        for section in ("section1", "section2"):
            dest = self.subs / section / "alice"
            shutil.copytree(self.base / "templates" / ("ref" if section == "section1" else "stub"),
                            dest)
            twins.append(dest)
        return [deep, loop, many, huge, odd, rooted, sparse, unreadable] + twins

    def grade(self, subs: list[Path]) -> tuple[subprocess.CompletedProcess, dict]:
        cmd = [sys.executable, "-m", "autograder", "grade", *map(str, subs), "--jobs", "2",
               "--json", str(self.out / "grades.json"), "--timeout", "30"]
        if self.mode == "user":
            user_folder(self.base)
            proc = run_as_user(cmd, cwd=REPO, env={"HOME": str(self.out)}, folders=(self.base,))
        else:
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
        data = json.loads((self.out / "grades.json").read_text()) if proc.returncode == 0 else {}
        return proc, {s["submission"]: s for s in data.get("submissions", [])}


MODES = ["root", "user"]


@pytest.fixture(scope="module", params=MODES)
def graded(request, tmp_path_factory):
    if not IS_ROOT:
        pytest.skip("these run the grader in both modes, which takes root to arrange; as an "
                    "ordinary user, tests/test_integrity.py covers this user's mode")
    base = tmp_path_factory.mktemp(f"sandbox-{request.param}")
    # pytest's own cleanup recurses, and the deep tree below defeats it: always remove it.
    request.addfinalizer(lambda: files.remove_tree(base))
    base.chmod(0o755)
    run = ClassRun(request.param, base)
    subs = run.build()
    journal_before = None
    proc, results = run.grade(subs)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run.proc, run.results, run.journal_before = proc, results, journal_before
    yield run
    run.listener.close()
    run.unix.close()
    for leftover in (f"/tmp/ag-escape-{run.mode}", f"/dev/shm/ag-escape-{run.mode}"):
        Path(leftover).unlink(missing_ok=True)


def test_the_checkout_cannot_be_read(graded):
    result = graded.results["steal"]
    assert _section(result, "cross_correlation") == 0
    assert _report(result) == {"readable": []}


def test_other_processes_cannot_be_inspected(graded):
    assert _report(graded.results["snoop"])["n"] == 0


def test_nothing_outside_the_scratch_folder_can_be_written(graded):
    assert _report(graded.results["write"]) == {"wrote": []}
    for path in (Path(f"/tmp/ag-escape-{graded.mode}"), Path(f"/dev/shm/ag-escape-{graded.mode}"),
                 graded.outside / "planted"):
        assert not path.exists(), path
    journal = (graded.out / "grades.json.journal.jsonl").read_text()
    assert "forged" not in journal
    classmate = graded.results["classmate"]
    assert _section(classmate, "spatial_batchnorm") == 25
    assert "forged" not in (graded.subs / "classmate" / "source" / "batchnorm.py").read_text()


def test_the_judge_and_the_zygote_cannot_be_signalled(graded):
    assert _report(graded.results["signal"]) == {"signalled": []}


def test_there_is_no_network(graded):
    assert _report(graded.results["network"]) == {"connected": []}
    assert graded.accepted == 0


def test_memory_is_not_multiplied_by_new_processes(graded):
    """The memory hog forks three helpers of 1.5 GiB: the first fork ends the submission's
    process (one process, so the bound is one process's), and none of its blocks was held."""
    result = graded.results["memory"]
    output = next(t["output"] for t in result["tests"] if t["name"] == "cc_worked_example")
    assert "REPORT " not in output, output
    assert sandbox_mod.THREADS in output, output
    assert any(sandbox_mod.THREADS in f for f in result["flags"]), result["flags"]


def test_honest_code_imports_anything_of_the_environment(graded):
    result = graded.results["honest_imports"]
    assert _section(result, "cross_correlation") == 15, result["tests"]


def test_source_linked_to_the_root_is_not_graded(graded):
    result = graded.results["source_is_root"]
    assert _section(result, "cross_correlation") == 0
    assert any("symbolic link" in f for f in result["flags"]), result["flags"]


@pytest.mark.parametrize("name", ["deep_tree", "symlink_loop", "many_files", "odd_names",
                                  "huge_notebook", "sparse_file", "unreadable_file"])
def test_a_broken_folder_costs_only_its_own_submission(graded, name):
    result = graded.results[name]
    assert _section(result, "cross_correlation") == 15
    assert _section(result, "spatial_batchnorm") == 25
    # Odd names are copied like any other, and root reads a file of mode 000: nothing to
    # report there.
    if name != "odd_names" and (name, graded.mode) != ("unreadable_file", "root"):
        assert result["flags"], "what was skipped is reported"
    assert _section(graded.results["classmate"], "cross_correlation") == 15


def test_folders_of_the_same_name_keep_distinct_results(graded):
    first = graded.results["section1/alice"]
    second = graded.results["section2/alice"]
    assert _section(first, "cross_correlation") == 15
    assert _section(second, "cross_correlation") == 0
    feedback = sorted(p.name for p in graded.out.glob("*alice*-feedback.md"))
    assert feedback == ["grades-section1__alice-feedback.md", "grades-section2__alice-feedback.md"]


def test_the_sandbox_says_what_is_in_force(graded):
    notes = {f for r in graded.results.values() for f in r["flags"]
             if f.startswith("sandbox degraded")}
    report = (graded.out / "grades-report.md").read_text()
    if graded.mode == "root":
        assert notes == set()
        assert "Complete: every protection" in report
    else:  # no cgroup without root: the per-process cap is named, in output and report
        assert len(notes) == 1 and "no memory cgroup" in notes.pop()
        assert all(any(f.startswith("sandbox degraded") for f in r["flags"])
                   for r in graded.results.values())
        assert "no memory cgroup" in graded.proc.stderr
        assert "**Degraded:**" in report


def test_require_sandbox_refuses_a_degraded_run(tmp_path):
    if not IS_ROOT:
        pytest.skip("arranging the ordinary user's run takes root")
    base = user_folder(tmp_path / "req")
    base.chmod(0o755)
    build.solution(base / "ref")
    user_folder(base)
    cmd = [sys.executable, "-m", "autograder", "grade", str(base / "ref"), "--require-sandbox",
           "--json", str(base / "out" / "g.json")]
    proc = run_as_user(cmd, cwd=REPO, env={"HOME": str(base)}, folders=(base,))
    assert proc.returncode == 2
    assert "--require-sandbox" in proc.stderr and "cgroup" in proc.stderr
    assert not (base / "out" / "g.json").exists()
    as_root = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert as_root.returncode == 0, as_root.stderr


# ------------------------------------------------------------------ protections removed

@pytest.fixture(scope="module")
def stub(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("unprotected")
    build.release(base / "stub")
    return base / "stub"


def _unprotected(disable: tuple[str, ...]) -> Sandbox:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sandbox_mod, "_can_drop_privileges", lambda: False)
        return Sandbox(slot=31, disable=disable)


def _with(stub: Path, tmp_path: Path, code: str) -> Path:
    dest = tmp_path / "sub"
    shutil.copytree(stub, dest)
    with open(dest / "source" / "cross_correlation.py", "a", encoding="utf-8") as fh:
        fh.write("\n\n" + code + "\n")
    return dest


def test_without_landlock_the_same_attacks_succeed(stub, tmp_path):
    target = tmp_path / "planted"
    with _unprotected(("landlock", "mount", "netns", "seccomp")) as box:
        assert box.notes
        stolen = grade.grade_submission(_with(stub, tmp_path / "a", STEAL), sandbox=box)
        wrote = grade.grade_submission(_with(stub, tmp_path / "b", WRITE % [str(target)]),
                                       sandbox=box)
        snooped = grade.grade_submission(_with(stub, tmp_path / "c", SNOOP), sandbox=box)
    assert _section(stolen, "cross_correlation") == 15
    assert _report(wrote) == {"wrote": [str(target)]}
    assert set(target.read_text().splitlines()) == {"forged"}
    assert _report(snooped)["n"] > 0


def test_without_the_network_namespace_and_landlock_the_network_is_reachable(stub, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        with _unprotected(("landlock", "mount", "netns", "seccomp")) as box:
            result = grade.grade_submission(
                _with(stub, tmp_path, NETWORK % listener.getsockname()[1]), sandbox=box)
    finally:
        listener.close()
    assert _report(result) == {"connected": ["127.0.0.1"]}


def test_what_landlock_does_not_cover_is_denied_too(graded):
    """Modes, setuid files, memfd, other processes' limits and priorities, keyrings and
    unix sockets by path (the seccomp filter)."""
    assert _report(graded.results["kernel"]) == {"done": []}
    assert graded.accepted == 0


def test_hostile_text_reaches_no_output_raw(graded):
    result = graded.results["bad_text"]
    output = next(t["output"] for t in result["tests"] if t["name"] == "cc_worked_example")
    assert "reversed" in output
    for raw in ("\x1b", "\u202e", "\ud800"):
        assert raw not in output
    feedback = (graded.out / "grades-bad_text-feedback.md").read_text(encoding="utf-8")
    assert "reversed" in feedback and "\x1b" not in feedback
    assert "\x1b" not in graded.proc.stdout


# ------------------------------------------------------------------ one thread, one process

@pytest.mark.parametrize("route", sorted(THREAD_ROUTES))
def test_a_banned_call_on_another_thread_or_process_scores_nothing(graded, route):
    """Every route to a thread or a process of its own (issue 18.1), graded by the real
    command in both modes: the test that makes it scores 0, the submission is flagged, the
    other section keeps its points."""
    result = graded.results[f"thread_{route}"]
    assert _section(result, "cross_correlation") == 0, result["tests"]
    assert _section(result, "spatial_batchnorm") == 25
    output = next(t["output"] for t in result["tests"] if t["name"] == "cc_worked_example")
    if route == "process_pool":
        # Its call queue needs a POSIX semaphore in /dev/shm, which Landlock denies before
        # any process or thread exists: it fails there, with nothing to flag.
        assert "PermissionError" in output, output
        return
    assert any(sandbox_mod.THREADS in f for f in result["flags"]), result["flags"]
    assert sandbox_mod.THREADS in output, output


def test_no_new_user_namespace_can_be_made(graded):
    cloned = graded.results["clone_newuser"]
    assert _section(cloned, "cross_correlation") == 0
    assert any(sandbox_mod.THREADS in f for f in cloned["flags"]), cloned["flags"]
    unshared = graded.results["unshare_newuser"]
    assert _section(unshared, "cross_correlation") == 0
    assert _report(unshared) == {"made": ["errno 1"]}  # EPERM from the seccomp filter


def test_a_full_scratch_fails_that_call_only(graded):
    """The scratch folder is a tmpfs of 64 MiB: filling it fails the call with a message
    that names the limit, nothing reaches the disk, and the class grades normally."""
    result = graded.results["scratch_fill"]
    output = next(t["output"] for t in result["tests"] if t["name"] == "cc_worked_example")
    assert "the scratch space is full (limit 64 MiB" in output, output
    assert "REPORT " not in output  # it never wrote its 512 MiB
    assert _section(result, "spatial_batchnorm") == 0  # a stub: nothing else changed
    assert _section(graded.results["classmate"], "cross_correlation") == 15
    assert _section(graded.results["honest_imports"], "cross_correlation") == 15


def test_without_the_thread_ban_a_thread_scores(stub, ref_template, tmp_path):
    """The same cheat with the ban switched off (and the guard as deployed) gets full
    marks: the ban is what stops it."""
    with _unprotected(("threads",)) as box:
        assert any("thread and process ban" in n for n in box.notes), box.notes
        result = grade.grade_submission(_with(ref_template, tmp_path, THREAD_ROUTES["threading"]),
                                        sandbox=box, timeout=30)
    assert _section(result, "cross_correlation") == 15, result["tests"]
    assert not any(sandbox_mod.THREADS in f for f in result["flags"])


def test_without_the_scratch_tmpfs_the_disk_fills(stub, tmp_path):
    with _unprotected(("scratch",)) as box:
        assert any("bounded scratch" in n for n in box.notes), box.notes
        result = grade.grade_submission(_with(stub, tmp_path, SCRATCH_FILL), sandbox=box,
                                        timeout=60)
    assert _report(result) == {"written_mib": 512}


@pytest.fixture(scope="module")
def ref_template(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("ref-template")
    build.solution(base / "ref")
    return base / "ref"


# ------------------------------------------------------------------ why a child died

DEATHS = {
    # name: (code appended to the reference's cross_correlation.py, words the student reads)
    "exit_status": ("def cross_corr_2d(X, K):\n    import os\n    os._exit(3)\n",
                    "ended the grading process with exit status 3"),
    "signal": ("def cross_corr_2d(X, K):\n    import os, signal\n"
               "    os.kill(os.getpid(), signal.SIGSEGV)\n", "was ended by SIGSEGV"),
    "sigabrt": ("def cross_corr_2d(X, K):\n    import os\n    os.abort()\n",
                "was ended by SIGABRT (os.abort()"),
    "thread": ("def cross_corr_2d(X, K):\n    import threading\n"
               "    threading.Thread(target=print).start()\n", sandbox_mod.THREADS),
    "cpu_limit": ("def cross_corr_2d(X, K):\n    while True:\n        pass\n",
                  "used more than its CPU time limit of 1 s and was stopped (SIGXCPU)"),
    "cpu_limit_sigxcpu_ignored": (
        "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\n\n\n"
        "def cross_corr_2d(X, K):\n    while True:\n        pass\n",
        "used more than its CPU time limit of 1 s and was stopped (SIGKILL)"),
    "clone_newuser": (NEW_USERNS % "True", sandbox_mod.THREADS),
    "closed_connection": (
        "def cross_corr_2d(X, K):\n    import os, time\n"
        "    for fd in range(3, 64):\n        try:\n            os.close(fd)\n"
        "        except OSError:\n            pass\n    time.sleep(60)\n",
        "closed its connection to the grader"),
}
# As root, with the memory cgroup: 100 MiB of memory and 60 MiB of scratch files (memory
# that no rlimit counts, but the cgroup does) against a limit of 128 MiB.
OOM = '''
def cross_corr_2d(X, K):
    block = bytearray(100 << 20)
    block[::4096] = b"x" * len(block[::4096])
    for i in range(6):
        with open(f"f{i}", "wb") as fh:
            fh.write(bytes(10 << 20))
    return block
'''


@pytest.fixture(scope="module", params=["dropped", "user"])
def small_box(request):
    """A slot with a CPU limit of 1 s and (as root) a memory cgroup of 128 MiB."""
    if request.param == "dropped" and not IS_ROOT:
        pytest.skip("needs root to drop privileges")
    limits = sandbox_mod.Limits(cpu_seconds=1, memory_bytes=128 << 20)
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "user":
            mp.setattr(sandbox_mod, "_can_drop_privileges", lambda: False)
        box = Sandbox(slot=33 if request.param == "dropped" else 34, limits=limits)
        if request.param == "user":
            box.disable += ("cgroup",)  # as an ordinary user: no cgroup can be made
    with box:
        yield request.param, box


@pytest.mark.parametrize("name", sorted(DEATHS))
def test_a_killed_child_says_why(name, small_box, ref_template, tmp_path):
    mode, box = small_box
    code, words = DEATHS[name]
    result = grade.grade_submission(_with(ref_template, tmp_path, code), sandbox=box,
                                    timeout=20)
    output = next(t["output"] for t in result["tests"] if t["name"] == "cc_worked_example")
    assert words in output, output
    assert _section(result, "cross_correlation") == 0
    assert _section(result, "spatial_batchnorm") == 25
    flagged = any(sandbox_mod.THREADS in f for f in result["flags"])
    assert flagged == (name in ("thread", "clone_newuser")), result["flags"]


def test_unsharing_a_user_namespace_is_denied(small_box, ref_template, tmp_path):
    _, box = small_box
    result = grade.grade_submission(_with(ref_template, tmp_path, NEW_USERNS % "False"),
                                    sandbox=box, timeout=20)
    assert _report(result) == {"made": ["errno 1"]}
    assert _section(result, "cross_correlation") == 0


def test_a_full_scratch_is_named(small_box, stub, tmp_path):
    _, box = small_box
    assert box.facilities.get("scratch"), box.notes
    result = grade.grade_submission(_with(stub, tmp_path, SCRATCH_FILL), sandbox=box,
                                    timeout=20)
    output = next(t["output"] for t in result["tests"] if t["name"] == "cc_worked_example")
    assert "the scratch space is full (limit 64 MiB" in output, output


def test_the_deadline_is_named(small_box, ref_template, tmp_path):
    _, box = small_box
    code = "def cross_corr_2d(X, K):\n    import time\n    time.sleep(60)\n"
    result = grade.grade_submission(_with(ref_template, tmp_path, code), sandbox=box,
                                    timeout=1.5)
    output = next(t["output"] for t in result["tests"] if t["name"] == "cc_worked_example")
    assert "did not finish before the time limit" in output, output


def test_out_of_memory_in_the_cgroup_is_named(small_box, ref_template, tmp_path):
    mode, box = small_box
    if mode != "dropped":
        pytest.skip("the memory cgroup exists only as root")
    assert box.cgroup, "as root the slot has a memory cgroup"
    result = grade.grade_submission(_with(ref_template, tmp_path, OOM), sandbox=box,
                                    timeout=30)
    output = next(t["output"] for t in result["tests"] if t["name"] == "cc_worked_example")
    assert "used more memory than the limit (128 MiB" in output, output


def test_the_thread_benchmark_times_both_arms():
    """benchmarks/threads.py: one slot with the ban, one without, the same honest calls."""
    from benchmarks import threads

    data = threads.measure(repeats=1, calls=1)
    assert data["facilities"]["ban on"]["threads"] is True
    assert data["facilities"]["ban off"]["threads"] is False
    for arm in ("ban on", "ban off"):
        assert set(data["arms"][arm]) == {"child start", *threads._inputs()}
        assert all(s["n"] >= 1 and s["median_s"] > 0 for s in data["arms"][arm].values())


def test_blocked_for_names_the_first_folder_a_user_cannot_traverse(tmp_path):
    """confine.blocked_for (what a dropped user needs exposed, root mode; the ordinary-user
    harness too): only a folder without the search bit for that user, never one it can
    traverse (issue 22)."""
    from autograder.grading.child import confine

    uid = os.getuid()  # the owner: its own bits decide, whatever the test runs as
    reachable = tmp_path / "open" / "deeper"
    reachable.mkdir(parents=True)
    closed = tmp_path / "closed"
    (closed / "inside").mkdir(parents=True)
    closed.chmod(0o600)
    try:
        assert confine.blocked_for(uid, [str(reachable)]) == []
        assert confine.blocked_for(uid, [str(closed / "inside"), str(reachable)]) == [str(closed)]
    finally:
        closed.chmod(0o700)
