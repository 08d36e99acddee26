"""Reading the student's modules without running them.

The judge parses each file with ``ast``: a clear message for files that are missing, not
UTF-8, too large or not Python; the signatures of the graded functions; and which graded
functions name a forbidden library call, directly, through an alias, a ``getattr`` string
or a helper function of the same module. What it finds is a flag for a person, never a loss
of points (SPEC.md: points are taken only by what ran; the sandbox's guard denies the
banned operators at run time). Running the code is the sandbox's job.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import parsing
from . import assignment

MAX_SOURCE_BYTES = 1 << 20

SIGNATURES = assignment.SIGNATURES

# Switching off the run-time operator watch (torch's dispatch-mode stack): never needed by
# the assignment, and with a computed name for the forbidden call it would hide it.
_TAMPER = re.compile(r"^(_python_dispatch|_disable_current_modes|_pop_mode\w*|_push_mode|"
                     r"\w*torch_dispatch_stack|_set_dispatch_mode|_unset_dispatch_mode|"
                     r"_DisableTorchDispatch|DisableTorchFunction\w*|_disable_torch_function\w*|"
                     r"_ExcludeDispatchKeyGuard|_python_dispatch\w*)$")
_CONV = assignment.static_pattern("convolution")

# module -> (family, pattern, functions it is forbidden in (None: all)); SPEC.md bans each
# family anywhere in its module.
RULES = {f.module: [(family, assignment.static_pattern(family), None) for family in f.bans]
         + [(assignment.TAMPERING, _TAMPER, None)] for f in assignment.FILES}
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


@dataclass
class ModuleReport:
    module: str
    problem: str | None = None  # why the module cannot be graded at all
    notes: list[str] = field(default_factory=list)  # flags that do not stop grading
    forbidden: dict[str, list[str]] = field(default_factory=dict)  # function -> uses


_LOOKUPS = {"getattr", "__getattribute__", "attrgetter", "import_module", "__import__",
            "eval", "exec", "get"}


def _strings(node: ast.AST) -> list[str]:
    return [c.value for c in ast.walk(node)
            if isinstance(c, ast.Constant) and isinstance(c.value, str) and len(c.value) < 200]


def _own_names(tree: ast.AST) -> set[str]:
    """Names the student's module defines itself: functions, classes, parameters and
    assigned variables. A helper called `_correlate_rows` or a class `MyBatchNorm` is the
    student's own code, not a library call."""
    own: set[str] = set()
    for sub in ast.walk(tree):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            own.add(sub.name)
        elif isinstance(sub, ast.arg):
            own.add(sub.arg)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            own.add(sub.id)
    return own


def bindings(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    """(name, value) for each plain name bound to an expression: assignments, walrus,
    parameters with defaults, for-loop targets over a literal list or tuple."""
    out: list[tuple[str, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            out += [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None \
                and isinstance(node.target, ast.Name):
            out.append((node.target.id, node.value))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            positional = args.posonlyargs + args.args
            out += [(a.arg, d) for a, d in zip(positional[len(positional)
                                                          - len(args.defaults):],
                                               args.defaults)]
            out += [(a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults)
                    if d is not None]
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Name) \
                and isinstance(node.iter, (ast.List, ast.Tuple)):
            out += [(node.target.id, e) for e in node.iter.elts]
    return out


def dotted(node: ast.AST, modules: dict[str, str]) -> str | None:
    """The module path an attribute chain stands for, or None if it starts elsewhere."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in modules:
        return ".".join([modules[node.id], *reversed(parts)])
    return None


def module_paths(tree: ast.AST, own_package: str = "source") -> dict[str, str]:
    """Each name bound to a module (or to a name imported from one), mapped to the dotted
    path it stands for: ``import sys as s`` gives ``s -> sys``, ``from torch.nn import
    functional as F`` gives ``F -> torch.nn.functional``. A module bound to another name
    (``m = torch``, ``def f(m=np)``, ``(m := torch)``, ``for m in (torch,)``) is the module
    still: followed until nothing new is bound. The one alias rule of the text checks."""
    modules: dict[str, str] = {}
    for node in ast.walk(tree):  # imports bind names wherever they are written
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    modules[a.asname] = a.name
                else:
                    modules[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = (own_package if node.level else "") + \
                ("." if node.level and node.module else "") + (node.module or "")
            for a in node.names:
                if a.name != "*":
                    modules[a.asname or a.name] = f"{base}.{a.name}"
    pairs = bindings(tree)
    grew = True
    while grew:
        grew = False
        for target, value in pairs:
            path = dotted(value, modules)
            if path is not None and target not in modules:
                modules[target] = path
                grew = True
    return modules


def _own_defs(tree: ast.AST) -> set[str]:
    """Functions and methods the student defines: `cache.backward(dout)` on the student's
    own object is not autograd (a real Tensor.backward is still caught at run time)."""
    return {sub.name for sub in ast.walk(tree)
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _names_used(node: ast.AST, skip: set[str] = frozenset(),
                skip_attrs: set[str] = frozenset(),
                modules: set[str] = frozenset()) -> set[str]:
    """Identifiers and attribute names used under node, and the names it looks up by string
    (getattr, __dict__[...], eval): the ways an alias can hide a call. Bare identifiers in
    `skip` and attribute names in `skip_attrs` are left out."""
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            if sub.id not in skip:
                found.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            root = sub.value
            while isinstance(root, ast.Attribute):
                root = root.value
            # A student's own method name skips only on the student's objects: on a module
            # (`F.conv2d`, `m = torch; m.conv2d`) it is the library's name.
            on_module = isinstance(root, ast.Name) and root.id in modules
            if sub.attr not in skip_attrs or on_module:
                found.add(sub.attr)
            if isinstance(sub.value, ast.Name):  # module.attribute, e.g. torch.func
                found.add(f"{sub.value.id}.{sub.attr}")
        elif isinstance(sub, ast.Call) and (
                getattr(sub.func, "id", None) in _LOOKUPS
                or getattr(sub.func, "attr", None) in _LOOKUPS):
            for text in _strings(sub):
                found.update(re.split(r"[^\w]+", text))
        elif isinstance(sub, ast.Subscript):
            for text in _strings(sub.slice):
                found.update(re.split(r"[^\w]+", text))
        elif isinstance(sub, ast.alias):
            found.update(sub.name.split("."))
            found.add(sub.name)
            if sub.asname:
                found.add(sub.asname)
    return found


def _aliases(tree: ast.Module, pattern: re.Pattern) -> set[str]:
    """Module-level names bound to a forbidden thing: imports and assignments."""
    bad: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                parts = alias.name.split(".")
                module = node.module if isinstance(node, ast.ImportFrom) else None
                if any(pattern.match(p) for p in parts + [alias.name]) or (
                        module and any(pattern.match(p)
                                       for p in module.split(".") + [module])):
                    bad.add(alias.asname or parts[0])
                if node.__class__ is ast.ImportFrom and node.module == "scipy" \
                        and alias.name == "signal" and pattern.pattern == _CONV.pattern:
                    bad.add(alias.asname or "signal")
            if isinstance(node, ast.Import) and pattern.pattern == _CONV.pattern:
                bad.update(a.asname or a.name.split(".")[0] for a in node.names
                           if a.name.startswith("scipy.signal"))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(pattern.match(n) for n in _names_used(node.value)) if node.value else False:
                bad.update(t.id for t in targets if isinstance(t, ast.Name))
    return bad


def decode(data: bytes, rel: str) -> tuple[str | None, str | None]:
    """The text of a Python file, or why it is rejected: the child runs the file as Python
    reads it, so a file the checks would read otherwise (an encoding cookie other than
    UTF-8, bytes that are not UTF-8) is not graded."""
    for line in data.splitlines()[:2]:
        cookie = _CODING.match(line)
        name = cookie.group(1).decode("ascii", "replace") if cookie else "utf-8"
        if name.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
            return None, (f"{rel} declares the encoding {name}; only UTF-8 source is graded: "
                          "remove the coding line and save the file as UTF-8")
        if not line.strip().startswith(b"#"):
            break
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"{rel} is not valid UTF-8 text (byte {exc.start}); save it as UTF-8"


def analyse(path: Path, module: str) -> ModuleReport:
    report = ModuleReport(module)
    rel = f"source/{module}.py"
    if path.is_symlink():
        report.problem = f"{rel} is a symbolic link; submit the file itself"
        return report
    if not path.is_file():
        report.problem = f"{rel} is missing from the submission"
        return report
    size = path.stat().st_size
    if size > MAX_SOURCE_BYTES:
        report.problem = f"{rel} is {size} bytes, over the {MAX_SOURCE_BYTES} byte limit"
        return report
    text, report.problem = decode(path.read_bytes(), rel)
    if text is None:
        return report
    try:
        tree = parsing.parse(text, rel)
    except SyntaxError as exc:
        report.problem = f"{rel} has a syntax error on line {exc.lineno}: {exc.msg}"
        return report
    except ValueError as exc:  # null bytes
        report.problem = f"{rel} cannot be parsed: {exc}"
        return report

    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef,
                                                                 ast.AsyncFunctionDef))}
    for name, params in SIGNATURES.get(module, {}).items():
        node = functions.get(name)
        if node is None:
            report.notes.append(f"{rel} defines no function {name}")
            continue
        args = node.args
        positional = [a.arg for a in args.posonlyargs + args.args]
        required = len(positional) - len(args.defaults)
        if not (args.vararg or len(positional) >= len(params)) or required > len(params):
            report.notes.append(f"{name} in {rel} takes ({', '.join(positional)}); expected "
                                f"({', '.join(params)})")

    calls = {name: {n for n in _names_used(node) if n in functions and n != name}
             for name, node in functions.items()}
    own, own_defs = _own_names(tree), _own_defs(tree)
    module_names = set(module_paths(tree))
    for family, pattern, scope in RULES.get(module, []):
        aliases = _aliases(tree, pattern)
        direct = {name: sorted(n for n in _names_used(node, skip=own - aliases,
                                                      skip_attrs=own_defs,
                                                      modules=module_names)
                               if pattern.match(n) or n in aliases)
                  for name, node in functions.items()}
        for name in SIGNATURES.get(module, {}):
            if name not in functions:
                continue
            seen, stack, uses = {name}, [name], []
            while stack:
                current = stack.pop()
                if scope is None or current in scope:
                    uses += [f"{u} (in {current})" if current != name else u
                             for u in direct.get(current, [])]
                for callee in calls.get(current, ()):
                    if callee not in seen:
                        seen.add(callee)
                        stack.append(callee)
            if uses:
                report.forbidden.setdefault(name, []).extend(f"{family}: {u}" for u in uses)
    return report
