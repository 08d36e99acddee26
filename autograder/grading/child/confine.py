"""Confinement of the student's process: Landlock, namespaces, a cgroup, rlimits, a uid drop.

Runs in the child right after the zygote forks it, before any student code is imported.
Everything here is the kernel's own mechanism, called through ``ctypes`` (no Python
binding of Landlock is maintained well enough to depend on; the calls are three syscalls
and two structs, documented in ``linux/landlock.h``).

What each layer gives (the README's threat model has the table):

- Landlock (unprivileged since Linux 5.13): reads only beneath the interpreter's and the
  environment's folders, the private copy and a few device and /proc files; writes only
  beneath the private copy; no TCP (ABI 4); no signals and no abstract unix sockets to
  processes outside the sandbox (ABI 6). ptrace of anything outside is denied by Landlock
  at every ABI.
- a network and IPC namespace (an unprivileged user namespace when not root): no network
  at all, no System V shared memory with anyone else.
- a memory cgroup when one can be made (as root), else a process cap and a per-process
  address-space cap whose product is the bound.
- as root, a uid drop to a per-slot user, inside a private mount namespace in which any
  folder of the environment that this user could not traverse is re-exposed (never the
  rest of that folder), so honest imports work.
"""

from __future__ import annotations

import ctypes
import os
import resource

# linux/landlock.h
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK = 1 << 8, 1 << 9, 1 << 10, 1 << 11
FS_MAKE_SYM, FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 12, 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1,
              5: (1 << 16) - 1}
READ = FS_READ_FILE | FS_READ_DIR
READ_EXEC = READ | FS_EXECUTE
WRITE = ((1 << 16) - 1) & ~FS_EXECUTE  # everything but running programs from it
DEVICE = FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV

PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
CLONE_NEWNET, CLONE_NEWIPC = 0x40000000, 0x08000000
MS_BIND, MS_REC, MS_PRIVATE, MS_RDONLY = 4096, 16384, 1 << 18, 1
MS_NOSUID, MS_NODEV = 2, 4
#: Files and folders the scratch tmpfs may hold: an empty file costs kernel memory too.
SCRATCH_INODES = 16384

#: Landlock ABI needed for every protection: 6 adds signal and abstract-socket scoping.
FULL_ABI = 6

# Device and kernel files the process may read (and, for the first group, write).
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/random")
READABLE_SYSTEM = ("/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/sys/devices/system/cpu",
                   "/sys/fs/cgroup", "/etc/ld.so.cache", "/etc/localtime",
                   "/usr/share/zoneinfo", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group")
GPU_DEVICE_PREFIXES = ("nvidia", "dri")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64),
                ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class ConfineError(OSError):
    """A confinement step that the start-up probe said would work did not."""


def _err(what: str) -> ConfineError:
    errno = ctypes.get_errno()
    return ConfineError(errno, f"{what}: {os.strerror(errno)}")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is absent or disabled."""
    abi = _libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                        ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(abi), 0)


def apply_landlock(read: list[str], read_exec: list[str], write: list[str],
                   devices: list[str], abi: int) -> None:
    """Restrict this process (and everything it starts) to the given paths, no TCP, and
    (ABI 6) no signals or abstract sockets outside. Paths that do not exist are skipped."""
    fs = _FS_BY_ABI.get(abi, _FS_BY_ABI[5])
    attr = RulesetAttr(fs, (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
                       (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                            ctypes.c_uint32(0))
    if ruleset < 0:
        raise _err("landlock_create_ruleset")
    try:
        for paths, access in ((read, READ), (read_exec, READ_EXEC), (write, WRITE | READ),
                              (devices, DEVICE)):
            for path in paths:
                _add_path(int(ruleset), path, access & fs)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _err("prctl(PR_SET_NO_NEW_PRIVS)")
        if _libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(int(ruleset)), ctypes.c_uint32(0)):
            raise _err("landlock_restrict_self")
    finally:
        os.close(int(ruleset))


def _add_path(ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):  # files accept only file rights
            access &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
        rule = PathBeneathAttr(access, fd)
        if _libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                         ctypes.byref(rule), ctypes.c_uint32(0)):
            raise _err(f"landlock_add_rule({path})")
    finally:
        os.close(fd)


def unshare_network(as_root: bool) -> None:
    """A namespace with no network and no shared IPC. Not root: inside a user namespace
    that maps the current user to itself (so files keep their owner)."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET | CLONE_NEWIPC | (0 if as_root else CLONE_NEWUSER)
    if _libc.unshare(flags) != 0:
        raise _err("unshare")
    if not as_root:
        with open("/proc/self/setgroups", "w") as fh:
            fh.write("deny")
        with open("/proc/self/uid_map", "w") as fh:
            fh.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as fh:
            fh.write(f"{gid} {gid} 1")


def can_unshare(as_root: bool) -> bool:
    """Whether unshare_network works here (tried in a throwaway child)."""
    pid = os.fork()
    if pid == 0:
        try:
            unshare_network(as_root)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def blocked_for(uid: int, paths: list[str]) -> list[str]:
    """Which of paths a process of `uid` (no groups) could not reach: the first ancestor
    it cannot traverse, for each."""
    blocked = []
    for path in paths:
        parts = os.path.realpath(path).split("/")
        for i in range(2, len(parts) + 1):
            folder = "/".join(parts[:i]) or "/"
            try:
                st = os.stat(folder)
            except OSError:
                break
            if st.st_uid == uid:
                bits = (st.st_mode >> 6) & 7
            else:
                bits = st.st_mode & 7
            if os.path.isdir(folder) and not bits & 1:
                blocked.append(folder)
                break
    return sorted(set(blocked))


def expose(blocked: list[str], needed: list[str]) -> None:
    """As root, in a new private mount namespace: cover each folder in `blocked` with an
    empty tmpfs (mode 0755) and bind back only the `needed` paths beneath it, so a
    dropped user can reach exactly those and nothing else of the blocked folder."""
    if not blocked:
        return
    if _libc.unshare(CLONE_NEWNS) != 0:
        raise _err("unshare(CLONE_NEWNS)")
    if _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise _err("mount --make-rprivate /")

    def under(path: str, folder: str) -> bool:
        return path == folder or path.startswith(folder.rstrip("/") + "/")

    # Opened in the new namespace (a bind source must be a mount of this namespace).
    keep = []
    for path in needed:
        real = os.path.realpath(path)
        if any(under(real, b) for b in blocked) and os.path.exists(real):
            keep.append((real, os.open(real, os.O_PATH | os.O_CLOEXEC)))
    # A folder beneath another covered one is already hidden.
    covered = [b for b in blocked if not any(o != b and under(b, o) for o in blocked)]
    for folder in sorted(covered, key=len):
        if _libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"mode=0755,size=1m") != 0:
            raise _err(f"mount tmpfs on {folder}")
    for real, fd in sorted(keep, key=lambda kv: len(kv[0])):
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(real, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(real), exist_ok=True)
            open(real, "a").close()
        source = f"/proc/self/fd/{fd}".encode()
        if _libc.mount(source, real.encode(), None, MS_BIND | MS_REC, None) != 0:
            raise _err(f"bind {real}")
        os.close(fd)


def mount_scratch(folder: str, size: int, owner: int | None) -> None:
    """Cover `folder` (the private copy) with a tmpfs of `size` bytes in a new private mount
    namespace and copy its files into it: the student's only writable folder then has a
    fixed total size (ENOSPC beyond it), lives in memory that the cgroup counts, and is gone
    when the child ends. The files are where the child expects them; the judge, in its own
    namespace, still sees the copy it made. Needs CAP_SYS_ADMIN over the mount namespace:
    root, or (an ordinary user) the user namespace of ``unshare_network``."""
    source = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _libc.unshare(CLONE_NEWNS) != 0:
            raise _err("unshare(CLONE_NEWNS)")
        if _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            raise _err("mount --make-rprivate /")
        options = f"size={size},nr_inodes={SCRATCH_INODES},mode=0700"
        if owner is not None:
            options += f",uid={owner},gid={owner}"
        if _libc.mount(b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                       options.encode()) != 0:
            raise _err(f"mount tmpfs on {folder}")
        target = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _copy_tree(source, target, owner)
        finally:
            os.close(target)
    finally:
        os.close(source)


def _copy_tree(source: int, target: int, owner: int | None, depth: int = 0) -> None:
    """Copy regular files and folders from one open folder to another, by descriptor (no
    path is looked up twice, no link is followed). The tree is the judge's own copy."""
    if depth > 64:
        return
    for entry in os.scandir(source):
        if entry.is_dir(follow_symlinks=False):
            os.mkdir(entry.name, 0o700, dir_fd=target)
            sub_s = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                            dir_fd=source)
            sub_t = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                            dir_fd=target)
            try:
                if owner is not None:
                    os.fchown(sub_t, owner, owner)
                _copy_tree(sub_s, sub_t, owner, depth + 1)
            finally:
                os.close(sub_s)
                os.close(sub_t)
        elif entry.is_file(follow_symlinks=False):
            fin = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=source)
            fout = os.open(entry.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                           0o600, dir_fd=target)
            try:
                while chunk := os.read(fin, 1 << 20):
                    os.write(fout, chunk)
                if owner is not None:
                    os.fchown(fout, owner, owner)
            finally:
                os.close(fin)
                os.close(fout)


def can_mount_scratch(as_root: bool, folder: str) -> bool:
    """Whether mount_scratch works here (tried in a throwaway child on an empty folder)."""
    pid = os.fork()
    if pid == 0:
        try:
            if not as_root:
                unshare_network(False)
            mount_scratch(folder, 1 << 20, None)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def limit(which: int, value: int) -> None:
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass


def vm_size() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))


def join_cgroup(folder: str) -> None:
    with open(os.path.join(folder, "cgroup.procs"), "w") as fh:
        fh.write(str(os.getpid()))


def drop_to(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def gpu_devices() -> list[str]:
    try:
        names = os.listdir("/dev")
    except OSError:
        return []
    return [f"/dev/{n}" for n in names if n.startswith(GPU_DEVICE_PREFIXES)]


# ---------------------------------------------------------------- seccomp
# One thread, one process: torch keeps its dispatch modes (the run-time guard) per thread,
# and a new process runs without the guard, so any clone, clone3, fork or vfork after the
# child confined itself kills the whole process (SECCOMP_RET_KILL_PROCESS). The student's
# code cannot catch, retry or hide that: the zygote reaps the child, sees SIGSYS and the
# judge fails the test and flags the submission (sandbox.CallResult). EPERM would leave a
# failed thread start for the student's code to swallow. Honest code needs no thread: the
# zygote runs torch, OpenMP, MKL and OpenBLAS with one thread each.
#
# What Landlock does not mediate: changing modes and owners (a child running as the
# instructor could open up the checkout, or make a setuid copy of the interpreter), other
# processes' limits and priorities, kernel keyrings that outlive the process, memory that no
# rlimit counts (memfd), unix-socket connections to paths, new namespaces, and the kernel
# interfaces a grading process never needs. A small classic-BPF filter returns EPERM for
# them; everything else is allowed.

_SYSCALLS = {
    "x86_64": {
        "arch": 0xC000003E,
        "deny": (90, 91, 268, 452, 92, 93, 94, 260,  # chmod family, chown family
                 42, 49, 50, 43, 288,  # connect, bind, listen, accept, accept4
                 101, 310, 311, 312,  # ptrace, process_vm_readv/writev, kcmp
                 248, 249, 250,  # add_key, request_key, keyctl
                 319, 133, 259, 188, 189, 190,  # memfd_create, mknod(at), setxattr family
                 272, 308, 165, 166, 155, 161,  # unshare, setns, mount, umount2, pivot_root, chroot
                 323, 298, 321, 425, 426, 427),  # userfaultfd, perf_event_open, bpf, io_uring
        "nosys": (437,),  # openat2: its arguments live in memory; libc falls back to openat
        # clone, clone3, fork, vfork, execve, execveat: the process is killed (a program
        # exec'd in its place would answer the judge without the guard)
        "spawn": (56, 435, 57, 58, 59, 322),
        "clone": 56, "mode_arg": {257: 3, 2: 2, 85: 1},  # openat, open, creat
        "other_pid": {302: 0, 141: 1, 203: 0},  # prlimit64, setpriority, sched_setaffinity
        "x32": True,
    },
    "aarch64": {
        "arch": 0xC00000B7,
        "deny": (52, 53, 452, 55, 54, 203, 200, 201, 202, 242, 117, 270, 271, 272, 217, 218,
                 219, 279, 33, 5, 6, 7, 97, 268, 40, 39, 41, 51, 282, 241, 280, 425, 426, 427),
        "nosys": (437,),
        "spawn": (220, 435, 221, 281),  # clone, clone3, execve, execveat (no fork or vfork)
        "clone": 220, "mode_arg": {56: 3},
        "other_pid": {261: 0, 140: 1, 122: 0},
        "x32": False,
    },
}
_NS_FLAGS = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_SETID_BITS = 0o6000
_RET_ALLOW, _RET_KILL = 0x7FFF0000, 0x80000000  # KILL is SECCOMP_RET_KILL_PROCESS
_EPERM, _ENOSYS = 1, 38


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def seccomp_supported() -> bool:
    return os.uname().machine in _SYSCALLS


def seccomp_program(threads: bool = True) -> list[tuple[int, int, int, int]]:
    """The filter for this machine, as (code, jt, jf, k) instructions. ``threads=False``
    leaves thread and process creation as it was before the ban (clone3 ENOSYS, clone with
    namespace flags EPERM): only for the benchmark and the tests that prove the ban matters."""
    table = _SYSCALLS[os.uname().machine]
    ld, jeq, jset, ret, jge = 0x20, 0x15, 0x45, 0x06, 0x35

    def arg(i: int) -> int:  # low 32 bits of argument i in struct seccomp_data
        return 16 + 8 * i

    errno = lambda e: 0x00050000 | e  # noqa: E731 -- SECCOMP_RET_ERRNO | e
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, table["arch"]), (ret, 0, 0, _RET_KILL), (ld, 0, 0, 0)]
    if table["x32"]:
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, errno(_EPERM))]
    for nr in table["deny"]:
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, errno(_EPERM))]
    for nr in table["nosys"] + (() if threads else (435,)):
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, errno(_ENOSYS))]
    if threads:
        for nr in table["spawn"]:
            prog += [(jeq, 0, 1, nr), (ret, 0, 0, _RET_KILL)]

    def check(nr: int, index: int, test: int, bits: int) -> list[tuple[int, int, int, int]]:
        # if nr matches: load the argument; (jset bits | jeq 0) -> EPERM; reload nr.
        if test == jset:
            body = [(ld, 0, 0, arg(index)), (jset, 0, 1, bits), (ret, 0, 0, errno(_EPERM))]
        else:  # "not zero": the pid of another process
            body = [(ld, 0, 0, arg(index)), (jeq, 1, 0, 0), (ret, 0, 0, errno(_EPERM))]
        body.append((ld, 0, 0, 0))
        return [(jeq, 0, len(body), nr)] + body

    if not threads:  # with the ban on, every clone is killed above, namespaces included
        prog += check(table["clone"], 0, jset, _NS_FLAGS)
    for nr, index in table["mode_arg"].items():
        prog += check(nr, index, jset, _SETID_BITS)
    for nr, index in table["other_pid"].items():
        prog += check(nr, index, jeq, 0)
    prog.append((ret, 0, 0, _RET_ALLOW))
    return prog


def apply_seccomp(threads: bool = True) -> None:
    """Install the filter on this process (the last step: nothing runs after it that needs
    a thread, a process or a denied call)."""
    prog = seccomp_program(threads)
    array = (SockFilter * len(prog))(*[SockFilter(*ins) for ins in prog])
    fprog = SockFprog(len(prog), array)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _err("prctl(PR_SET_NO_NEW_PRIVS)")
    if _libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise _err("prctl(PR_SET_SECCOMP)")
