"""Static review of every file under a submission's ``source/``: flags for a person to look
at, with file and line, that take no points (the run-time guard takes them), and the files
that cannot be graded at all (not UTF-8, or an encoding cookie other than UTF-8).

The review works from an allowlist: a file may import what ``assignment.ALLOWED_IMPORTS``
lists (and the package's own modules); anything else is flagged, and so is any reach into
the interpreter's or the grader's machinery however it is spelled: a dunder attribute other
than the plain ones of ordinary classes, an attribute looked up by a computed name, the
namespace builtins (``vars``, ``globals``, ``eval``, ...), a subscript of a namespace, a
private attribute of a library module, a library module's attribute reassigned, or a module
of the interpreter (sys, os, gc, ...) reached through another one (``torch.sys``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import parsing
from . import assignment, files, static

MAX_FILES = 200

# Dunders that ordinary code reads or calls: super().__init__(), type(self).__name__, an
# operator or container protocol called by name. Every other dunder attribute (__dict__,
# __class__, __closure__, __globals__, __code__, __getattr__, __subclasses__, ...) is a way
# into the interpreter's machinery.
_PLAIN_DUNDERS = frozenset({
    "__init__", "__new__", "__post_init__", "__name__", "__qualname__", "__doc__", "__call__",
    "__len__", "__iter__", "__next__", "__getitem__", "__setitem__", "__contains__",
    "__enter__", "__exit__", "__repr__", "__str__", "__format__", "__bool__", "__hash__",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__neg__", "__pos__",
    "__abs__", "__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__",
    "__mul__", "__rmul__", "__imul__", "__truediv__", "__rtruediv__", "__itruediv__",
    "__floordiv__", "__mod__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__"})
# Dunder names a module may read as plain names.
_PLAIN_DUNDER_NAMES = frozenset({"__name__", "__doc__", "__all__", "__debug__"})
# Defining these hooks a class into torch's dispatcher, under the run-time guard.
_HOOK_DEFS = frozenset({"__torch_function__", "__torch_dispatch__"})
# Modules of the interpreter and the system: reached as an attribute of anything (torch.sys,
# numpy.os) they are flagged like an import of them.
_SYSTEM = frozenset({
    "sys", "os", "posix", "gc", "inspect", "ctypes", "ctypeslib", "threading", "_thread",
    "importlib", "builtins", "subprocess", "multiprocessing", "signal", "socket", "shutil",
    "pty", "marshal", "pickle", "atexit", "faulthandler", "resource", "mmap", "__main__"})
# Parts of torch that reach operators, dispatch and compilation below the public tensor API.
_TORCH_MACHINERY = frozenset({"ops", "library", "overrides", "utils", "jit", "fx",
                              "compiler", "compile", "backends", "hub"})
# Frames and tracebacks: another function's variables (the grader's among them).
_FRAME_ATTRS = frozenset({"f_back", "f_globals", "f_locals", "f_builtins", "f_code",
                          "gi_frame", "gi_code", "cr_frame", "tb_frame", "tb_next"})
# Builtins that evaluate text, open files or hand out a namespace.
_DYNAMIC_CALLS = frozenset({"exec", "eval", "compile", "__import__", "vars", "globals",
                            "locals", "open", "breakpoint", "input"})
_BY_NAME = frozenset({"getattr", "setattr", "delattr", "hasattr"})
# Methods that run without being called by name: when the grader inspects (attribute
# lookups, isinstance), copies or frees a student's object.
_SILENT_DEFS = frozenset({"__getattr__", "__getattribute__", "__del__", "__class__",
                          "__instancecheck__", "__subclasscheck__", "__init_subclass__",
                          "__set_name__", "__reduce__", "__reduce_ex__", "__getstate__",
                          "__setstate__", "__copy__", "__deepcopy__", "__class_getitem__"})
# Evaluate annotations (text) as code: eval by another name.
_EVALUATORS = frozenset({"get_type_hints", "ForwardRef", "_eval_type", "evaluate_forward_ref",
                         "get_annotations"})
_TYPE_NAME = re.compile(r"[A-Za-z_][\w.]*(\[[\w., \[\]]*\])?")
# operator's by-name helpers: attrgetter("name") and methodcaller("name") are getattr too.
_BY_NAME_OPERATOR = frozenset({"attrgetter", "methodcaller"})
# The guard object the child keeps in __main__.
_GUARD = "WATCH"


@dataclass
class Review:
    problems: list[str] = field(default_factory=list)  # files that make the code ungradable
    notes: list[str] = field(default_factory=list)  # "for review: file:line: what"


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


# Private parts of torch and numpy that no honest solution names, whatever they hang off.
_PRIVATE_ROOTS = frozenset({"_C", "_core", "_multiarray_umath", "_execution_engine",
                            "_dynamo", "_subclasses", "_python_dispatch", "_ops",
                            "_DisableTorchDispatch", "_ExcludeDispatchKeyGuard",
                            "_disable_current_modes", "_mode_utils", "no_dispatch",
                            "_ForceDispatchKeyGuard", "_pop_torch_dispatch_stack",
                            "_nnpack_spatial_convolution"})


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) \
        else None


class _Reviewer(ast.NodeVisitor):
    """One pass over a module; ``modules`` maps each name an import bound to the dotted
    module path it stands for, so that ``import sys as s; s.modules`` reads as sys.modules
    and ``F.pad`` as torch.nn.functional.pad."""

    def __init__(self, tree: ast.Module, graded: bool):
        self.graded = graded
        self.own = static._own_names(tree)
        self.out: list[tuple[int, str]] = []
        self.called: set[int] = set()  # ids of the nodes in a call's function position
        self.bans = {name: assignment.static_pattern(name) for name in assignment.FAMILIES}
        self.modules = static.module_paths(tree, assignment.OWN_PACKAGE)

    def flag(self, node: ast.AST, what: str) -> None:
        self.out.append((getattr(node, "lineno", 0), what))

    # ---- imports
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if not assignment.import_allowed(a.name):
                self.flag(node, f"imports {a.name}, which the assignment does not allow")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level > 1:
            self.flag(node, "imports from outside the package (from ..)")
        elif node.level == 0 and not assignment.import_allowed(node.module or ""):
            self.flag(node, f"imports from {node.module}, which the assignment does not "
                      "allow")
        elif node.level == 0:
            for a in node.names:
                if a.name in _EVALUATORS:
                    self.flag(node, f"imports {a.name} (it evaluates annotation text as code)")
                if a.name != "*":
                    self._path(node, f"{node.module}.{a.name}")
        self.generic_visit(node)

    # ---- attributes, names, calls
    def _dotted(self, node: ast.AST) -> str | None:
        """The module path an attribute chain stands for, or None if it starts elsewhere."""
        return static.dotted(node, self.modules)

    def _path(self, node: ast.AST, path: str) -> None:
        """A reach through a library module: its private parts and the machinery."""
        parts = path.split(".")
        if parts[0] == assignment.OWN_PACKAGE:
            return
        for i, part in enumerate(parts[1:], start=2):
            if part.startswith("_") and not _is_dunder(part):
                self.flag(node, f"reaches the private {'.'.join(parts[:i])}")
                return
        reached = next((p for p in parts[1:] if p in _SYSTEM), None)
        if reached and isinstance(node, (ast.Import, ast.ImportFrom)):
            self.flag(node, f"reaches the module {reached} ({path})")
        if parts[0] == "torch" and len(parts) > 1 and parts[1] in _TORCH_MACHINERY:
            self.flag(node, f"uses torch.{parts[1]} (torch's operator and dispatch "
                      "machinery)")

    def _attribute(self, node: ast.AST, base: ast.AST, name: str) -> None:
        if name in _PRIVATE_ROOTS and self._dotted(base) is None:
            self.flag(node, f"reaches {name} (private torch or numpy machinery)")
        if name in ("grad_fn", "next_functions", "register_hook", "register_prehook"):
            self.flag(node, f"uses {name} (the autograd graph: its nodes compute gradients "
                      "without the engine)")
        if name in _EVALUATORS:
            self.flag(node, f"uses {name} (it evaluates annotation text as code)")
        if _is_dunder(name) and name not in _PLAIN_DUNDERS:
            self.flag(node, f"uses {name}")
        elif name in _SYSTEM:
            self.flag(node, f"reaches the module {name}")
        elif name in _FRAME_ATTRS:
            self.flag(node, f"uses {name} (interpreter frames)")
        elif name == _GUARD:
            self.flag(node, f"uses {name} (the grader's guard)")
        dotted = self._dotted(base)
        if dotted is not None:
            self._path(node, f"{dotted}.{name}")
            if isinstance(base, ast.Name) and not assignment.import_allowed(dotted):
                self.flag(node, f"uses {dotted}.{name}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._attribute(node, node.value, node.attr)
        if node.attr == "data" and isinstance(node.ctx, ast.Store):
            self.flag(node, "assigns .data (it swaps a tensor's values behind autograd)")
        if not isinstance(node.ctx, ast.Load) and self._dotted(node.value) is not None:
            self.flag(node, f"changes {self._dotted(node)}, an attribute of a library module")
        self._banned_name(node, node.attr)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name in _EVALUATORS:
            self.flag(node, f"uses {name} (it evaluates annotation text as code)")
        if isinstance(node.ctx, ast.Load) and name not in self.own:
            if _is_dunder(name) and name not in _PLAIN_DUNDER_NAMES \
                    and name not in _DYNAMIC_CALLS:
                self.flag(node, f"uses {name}")
            elif name == _GUARD:
                self.flag(node, f"uses {name} (the grader's guard)")
            elif name in _DYNAMIC_CALLS | _BY_NAME and id(node) not in self.called:
                self.flag(node, f"passes {name} around (it looks names up at run time)")
        if name not in self.own:
            self._banned_name(node, name)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        self.called.add(id(node.func))
        fn = node.func.id if isinstance(node.func, ast.Name) else None
        by_operator = node.func.attr if isinstance(node.func, ast.Attribute) else fn
        if by_operator in _BY_NAME_OPERATOR and by_operator not in self.own:
            names = [_literal(a) for a in node.args]
            if not names or None in names:
                self.flag(node, f"looks up an attribute by a computed name ({by_operator})")
            else:
                for name in names:
                    self._attribute(node, None, name.split(".")[-1])
        if fn in _DYNAMIC_CALLS and fn not in self.own:
            self.flag(node, f"calls {fn}()")
        elif fn in _BY_NAME and fn not in self.own and node.args:
            name = _literal(node.args[1]) if len(node.args) > 1 else None
            if name is None:
                self.flag(node, f"looks up an attribute by a computed name ({fn})")
            else:
                self._attribute(node, node.args[0], name)
                if fn in ("setattr", "delattr") and self._dotted(node.args[0]) is not None:
                    self.flag(node, f"changes {self._dotted(node.args[0])}.{name}, an "
                              "attribute of a library module")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        value = node.value
        if isinstance(value, ast.Call) and getattr(value.func, "id", None) in \
                ("vars", "globals", "locals"):
            self.flag(node, f"subscripts a namespace ({value.func.id}()[...])")
        elif isinstance(value, ast.Attribute) and value.attr in ("__dict__", "modules"):
            where = self._dotted(value) or f"...{value.attr}"
            self.flag(node, f"subscripts a namespace ({where}[...])")
        self.generic_visit(node)

    # ---- definitions
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in _HOOK_DEFS:
            self.flag(node, f"defines {node.name} (a hook into torch's dispatcher)")
        elif node.name in _SILENT_DEFS:
            self.flag(node, f"defines {node.name} (it runs when the grader reads, checks or "
                      "frees the object, outside the function's call)")
        args = node.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None:
                self._annotation(arg.annotation)
        self._annotation(node.returns)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        self.generic_visit(node)

    def _annotation(self, node: ast.AST | None) -> None:
        """A string annotation is code that typing.get_type_hints evaluates: anything but a
        type's name (``"Tensor"``, ``"torch.Tensor"``, ``"list[int]"``) is flagged."""
        for sub in ast.walk(node) if node is not None else ():
            text = _literal(sub)
            if text is not None and not _TYPE_NAME.fullmatch(text):
                self.flag(sub, "has a string annotation that is code, not a type's name "
                          "(typing.get_type_hints would run it)")

    visit_AsyncFunctionDef = visit_FunctionDef

    def _banned_name(self, node: ast.AST, name: str) -> None:
        """A banned family named in a file that ``static.analyse`` does not read."""
        if self.graded:
            return
        for family, pattern in self.bans.items():
            if pattern.match(name) and not (family == "autograd" and name == "backward"):
                self.flag(node, f"names {name} ({family})")


def _findings(tree: ast.Module, graded: bool) -> list[tuple[int, str]]:
    """(line, what) for each use worth a look, in order; graded modules' banned names are
    reported by ``static.analyse`` already."""
    reviewer = _Reviewer(tree, graded)
    reviewer.visit(tree)
    return sorted(dict.fromkeys(reviewer.out), key=lambda f: f[0])


def review(source: Path) -> Review:
    """Every file under source/: graded modules, their helpers, __init__.py, packages."""
    result = Review()
    if not source.is_dir() or source.is_symlink():
        return result
    # Bounded and iterative (files.walk): a tree thousands of folders deep, link loops or
    # 100,000 files cost nothing here; the copy step reports what it skipped.
    listing = files.walk(source, "source")
    graded = set(assignment.MODULES)
    unread = [r for r, _ in listing.files[MAX_FILES:] if r.endswith(".py")]
    if unread:
        result.problems.append(f"source/ holds more than {MAX_FILES} files, and Python files "
                               f"past them ({files.shown('source/' + unread[0])} ...) could "
                               "not be read: remove what the package does not need")
    for rel_path, _ in listing.files[:MAX_FILES]:
        path = source / rel_path
        rel = f"source/{rel_path}"
        stem = rel_path.split("/")[0].split(".")[0]
        if stem in graded and rel != f"source/{stem}.py":
            result.notes.append(f"for review: {files.shown(rel)} shadows the graded module "
                                f"source/{stem}.py")
        if path.suffix in (".so", ".pyd", ".pyc", ".pth"):
            result.notes.append(f"for review: {rel} is compiled or import-time code")
            continue
        if path.suffix != ".py":
            continue
        size = path.stat().st_size
        if size > static.MAX_SOURCE_BYTES:
            # Code that is imported but never read would hide anything: not graded.
            result.problems.append(f"{files.shown(rel)} is {size} bytes, over the "
                                   f"{static.MAX_SOURCE_BYTES} byte limit for a Python file: "
                                   "code is graded only when every Python file can be read")
            continue
        try:
            raw = path.read_bytes()
        except OSError as exc:  # a file its owner made unreadable: reported, not fatal
            result.notes.append(f"for review: {files.shown(rel)} could not be read "
                                f"({exc.strerror})")
            continue
        text, problem = static.decode(raw, rel)
        if problem:
            result.problems.append(problem)
            continue
        try:
            tree = parsing.parse(text, rel)
        except (SyntaxError, ValueError):
            continue  # the graded modules report their own syntax errors
        for line, what in _findings(tree, rel in {f"source/{m}.py" for m in graded}):
            result.notes.append(f"for review: {rel}:{line}: {what}")
    return result
