"""Static review of every file under a submission's ``source/``: flags for a person to look
at, with file and line, that take no points (the run-time guard takes them), and the files
that cannot be graded at all (not UTF-8, or an encoding cookie other than UTF-8).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from . import assignment, files, static

MAX_FILES = 200
# Dotted names whose use in a homework means reaching into the grader or the interpreter.
_REVIEW_NAMES = {
    "sys.modules": "the module table (sys.modules)",
    "sys._getframe": "interpreter frames (sys._getframe)",
    "inspect.currentframe": "interpreter frames (inspect)",
    "inspect.stack": "interpreter frames (inspect)",
    "inspect.getouterframes": "interpreter frames (inspect)",
    "torch._C": "torch's C internals (torch._C)",
    "torch.ops": "raw operators (torch.ops)",
    "torch.library": "operator registration (torch.library)",
    "os.system": "a shell command (os.system)",
    "os.popen": "a shell command (os.popen)",
    "os.fork": "a new process (os.fork)",
    "os.kill": "signals (os.kill)",
    "os._exit": "os._exit",
}
_REVIEW_MODULES = {"builtins", "gc", "ctypes", "importlib", "subprocess", "inspect",
                   "__main__", "pty", "functorch"}
_REVIEW_ATTRS = {"f_back", "f_globals", "f_locals", "f_builtins", "gi_frame", "tb_frame",
                 "__builtins__", "__globals__", "__subclasses__", "__code__", "WATCH"}
_REVIEW_CALLS = {"exec", "eval", "compile", "__import__", "vars", "globals", "locals"}


@dataclass
class Review:
    problems: list[str] = field(default_factory=list)  # files that make the code ungradable
    notes: list[str] = field(default_factory=list)  # "for review: file:line: what"


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _findings(tree: ast.AST, graded: bool) -> list[tuple[int, str]]:
    """(line, what) for each use worth a look; graded modules' banned names are reported
    by ``static.analyse`` already."""
    out: list[tuple[int, str]] = []
    bans = {name: assignment.static_pattern(name) for name in assignment.FAMILIES}
    own = static._own_names(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names]
            base = node.module if isinstance(node, ast.ImportFrom) else None
            for name in names + ([base] if base else []):
                if name and name.split(".")[0] in _REVIEW_MODULES:
                    out.append((line, f"imports {name}"))
                for prefix in ("torch._C", "torch.ops", "torch.library", "torch.func"):
                    if name and (name == prefix or name.startswith(prefix + ".")):
                        out.append((line, f"imports {name}"))
            if base and any(f"{base}.{n}" in _REVIEW_NAMES for n in names):
                out.append((line, f"imports from {base}"))
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            for name, what in _REVIEW_NAMES.items():
                if dotted == name or dotted.endswith("." + name):
                    out.append((line, f"uses {what}"))
            if node.attr in _REVIEW_ATTRS:
                out.append((line, f"uses {node.attr}"))
        elif isinstance(node, ast.Name) and node.id in ("__builtins__", "WATCH"):
            out.append((line, f"uses {node.id}"))
        elif isinstance(node, ast.Call):
            fn = getattr(node.func, "id", None)
            if fn in _REVIEW_CALLS and fn not in own:
                out.append((line, f"calls {fn}()"))
            if fn == "getattr" and len(node.args) > 1 and not (
                    isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
                out.append((line, "looks up an attribute by a computed name (getattr)"))
        if not graded and isinstance(node, (ast.Name, ast.Attribute)):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in own and isinstance(node, ast.Name):
                continue
            for family, pattern in bans.items():
                if pattern.match(name) and not (family == "autograd" and name == "backward"):
                    out.append((line, f"names {name} ({family})"))
    return out


def review(source: Path) -> Review:
    """Every file under source/: graded modules, their helpers, __init__.py, packages."""
    result = Review()
    if not source.is_dir() or source.is_symlink():
        return result
    # Bounded and iterative (files.walk): a tree thousands of folders deep, link loops or
    # 100,000 files cost nothing here; the copy step reports what it skipped.
    listing = files.walk(source, "source")
    graded = set(assignment.MODULES)
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
        if path.suffix != ".py" or path.stat().st_size > static.MAX_SOURCE_BYTES:
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
            tree = ast.parse(text, filename=rel)
        except (SyntaxError, ValueError):
            continue  # the graded modules report their own syntax errors
        for line, what in dict.fromkeys(_findings(tree, rel in {f'source/{m}.py' for m in graded})):
            result.notes.append(f"for review: {rel}:{line}: {what}")
    return result
