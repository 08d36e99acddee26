"""Question (e): read the answer from the saved notebook, exactly as the grader reads it.

The notebook's check cell, ``selfcheck.py`` and the grader all call ``read_answer`` of this
file, so what the check prints is what gets graded. The notebook is read from disk and
never run: save it (Ctrl+S) before you check.

What is read: every code cell of ``assignment.ipynb``, in order, looking for top-level
statements that give ``answer_e`` its value:

    answer_e = {"A": "low", "B": "good", ...}      answer_e = dict(A="low", B="good", ...)
    answer_e["A"] = "low"                          answer_e.update({"B": "good"})
    answer_e.update(C="high")                      answer_e |= {"D": "very high"}

Keys and labels must be written out as plain strings. A panel is "A", "a", "Panel A" or
"(A)"; a label is one of low, good, high, very high, in any case, with or without the words
"learning rate" and the numerals (i)-(iv) of the question ("(iv) Very high learning rate").
Each of the four labels is used exactly once.

Run ``python read_answer_e.py`` in the homework folder to see what will be graded.
This file holds no answers. It needs only the Python standard library.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

NOTEBOOK = "assignment.ipynb"
ANSWER_GRADE_ID = "warmup_e_answer"
ANSWER_NAME = "answer_e"
PANELS = ("A", "B", "C", "D")
LABELS = ("low", "good", "high", "very high")

# The numerals of the question sheet: (i) low ... (iv) very high.
ROMAN = {"i": "low", "ii": "good", "iii": "high", "iv": "very high"}
# Words that may surround a label without changing it ("very high learning rate").
FILLER = {"learning", "rate", "lr", "step", "size", "stepsize", "the", "a", "curve", "run"}
SYNONYMS = {
    "low": "low", "small": "low", "slow": "low", "too low": "low", "too small": "low",
    "good": "good", "right": "good", "optimal": "good", "ideal": "good", "best": "good",
    "high": "high", "large": "high", "big": "high", "too high": "high",
    "very high": "very high", "veryhigh": "very high", "very large": "very high",
    "way too high": "very high", "extremely high": "very high", "very big": "very high",
}


def normalize_label(text: object) -> str | None:
    """The canonical label ("low", "good", "high", "very high") of text, or None.

    Case, spaces, punctuation, hyphens and words such as "learning rate" are ignored; the
    numerals (i)-(iv) of the question are understood, alone or in front of a label that
    agrees with them: "(ii)", "Good ", "very-high LR" and "(iv) Very high learning rate"
    are all accepted, "(i) high" is not.
    """
    if not isinstance(text, str):
        return None
    words = [w for w in re.sub(r"[^a-z]+", " ", text.lower()).split() if w not in FILLER]
    numeral = ROMAN.get(words[0]) if words else None
    if numeral is not None:
        words = words[1:]
    label = SYNONYMS.get(" ".join(words)) if words else None
    if numeral and label and numeral != label:
        return None
    return label or numeral


def panel_key(key: object) -> str | None:
    """'A', 'a', 'Panel A' and '(A)' all name panel A; anything else is None."""
    if not isinstance(key, str):
        return None
    words = [w for w in re.sub(r"[^a-z]+", " ", key.lower()).split() if w != "panel"]
    if len(words) == 1 and words[0].upper() in PANELS:
        return words[0].upper()
    return None


class Unreadable(ValueError):
    """answer_e cannot be read without running the notebook; the message says why."""


@dataclass
class Reading:
    """What the grader takes from a notebook for question (e)."""

    #: panel -> canonical label; None where the panel has no readable label.
    labels: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(PANELS))
    #: panel -> the text written there, for panels whose text is not a label.
    unreadable: dict[str, object] = field(default_factory=dict)
    #: keys of answer_e that do not name a panel.
    unknown_keys: list[str] = field(default_factory=list)
    #: why nothing could be read (then every panel scores 0), or None.
    error: str | None = None
    #: numbers (1-based, counting code cells only) of the code cells that set answer_e.
    cells: list[int] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [p for p in PANELS if self.labels[p] is None and p not in self.unreadable]

    @property
    def duplicates(self) -> dict[str, list[str]]:
        """label -> panels, for each label given to more than one panel."""
        seen: dict[str, list[str]] = {}
        for panel, label in self.labels.items():
            if label is not None:
                seen.setdefault(label, []).append(panel)
        return {label: panels for label, panels in seen.items() if len(panels) > 1}

    @property
    def complete(self) -> bool:
        """Four panels, four different labels, nothing else to fix."""
        return (self.error is None and not self.unreadable and not self.unknown_keys
                and not self.missing and not self.duplicates)

    def problems(self) -> list[str]:
        """What the student should fix, one sentence each (empty when complete)."""
        if self.error is not None:
            return [self.error]
        notes = []
        if self.unreadable:
            notes.append("not one of \"low\", \"good\", \"high\", \"very high\": "
                         + ", ".join(f"{p} ({t!r})" for p, t in self.unreadable.items()))
        for label, panels in self.duplicates.items():
            notes.append(f"\"{label}\" is given to panels {', '.join(panels)}: each label "
                         "is used exactly once")
        if self.unknown_keys:
            notes.append("keys that are not panels A-D are ignored: "
                         + ", ".join(self.unknown_keys))
        return notes

    def summary(self) -> str:
        """One line: the labels that will be graded."""
        if self.error is not None:
            return "nothing can be graded"
        return ", ".join(f"{p}: {self.labels[p] or '(no label)'}" for p in PANELS)


# --- reading the notebook ----------------------------------------------------------------

def _strip_magics(source: str) -> str:
    """IPython magics and shell escapes are not Python: blank them before parsing."""
    return "\n".join("" if line.lstrip().startswith(("%", "!", "?")) else line
                     for line in source.splitlines())


def _is_name(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == ANSWER_NAME


def _literal(node: ast.expr, where: str) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise Unreadable(f"{where}: write panel letters and labels out as plain strings "
                         "(the grader reads this cell without running it)") from None


def _mapping(call: ast.Call, where: str) -> dict:
    """The dict that dict(...) or .update(...) with literal arguments builds."""
    if len(call.args) > 1 or any(k.arg is None for k in call.keywords):
        raise Unreadable(f"{where}: give one dict and/or keyword arguments, written out")
    value: dict = {}
    if call.args:
        arg = _literal(call.args[0], where)
        try:
            value.update(arg)  # a dict, or a list of (key, value) pairs
        except (TypeError, ValueError):
            raise Unreadable(f"{where}: expected a dict such as {{\"A\": \"low\"}}") from None
    for keyword in call.keywords:
        value[keyword.arg] = _literal(keyword.value, where)
    return value


def _whole_value(expr: ast.expr, where: str) -> dict:
    """Value of answer_e = expr: a dict literal or dict(...) with literal arguments."""
    if (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name)
            and expr.func.id == "dict"):
        return _mapping(expr, where)
    value = _literal(expr, where)
    if not isinstance(value, dict):
        raise Unreadable(f"{where}: answer_e must be a dict such as {{\"A\": \"low\", ...}}, "
                         f"not a {type(value).__name__}")
    return dict(value)


def _mentions(node: ast.AST) -> bool:
    return any(_is_name(n) for n in ast.walk(node))


def _follow(tree: ast.Module, value: dict | None, cell: int) -> tuple[dict | None, bool]:
    """Apply the top-level statements of one cell to answer_e; (value, whether it changed)."""
    changed = False
    for node in tree.body:
        where = f"code cell {cell}, line {node.lineno}"
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        for target in targets:
            if _is_name(target):
                value, changed = _whole_value(node.value, where), True
            elif isinstance(target, ast.Subscript) and _is_name(target.value):
                if value is None:
                    raise Unreadable(f"{where}: answer_e is changed before it is assigned a dict")
                value[_literal(target.slice, where)] = _literal(node.value, where)
                changed = True
            elif _mentions(target):
                raise Unreadable(f"{where}: write `answer_e = {{...}}` or "
                                 "`answer_e[\"A\"] = ...`; this assignment cannot be read")
        if targets:
            if _is_name(node.value) and not all(_is_name(t) for t in targets):
                raise Unreadable(f"{where}: a second name for answer_e hides later changes "
                                 "from the grader; change answer_e itself")
            continue
        call = node.value if isinstance(node, ast.Expr) else None
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and _is_name(call.func.value) and call.func.attr == "update"):
            if value is None:
                raise Unreadable(f"{where}: answer_e is changed before it is assigned a dict")
            value.update(_mapping(call, where))
            changed = True
        elif (isinstance(node, ast.AugAssign) and _is_name(node.target)
              and isinstance(node.op, ast.BitOr)):
            if value is None:
                raise Unreadable(f"{where}: answer_e is changed before it is assigned a dict")
            value.update(_whole_value(node.value, where))
            changed = True
        elif _changes(node):
            raise Unreadable(f"{where}: answer_e is changed in a way that cannot be read "
                             "without running the notebook; set it at the top level of a cell "
                             "with `answer_e = {...}`, `answer_e[\"A\"] = ...` or "
                             "`answer_e.update(...)`")
    return value, changed


#: Methods of a dict that do not change it.
_READ_ONLY = {"get", "items", "keys", "values", "copy", "__contains__", "__len__"}


def _changes(node: ast.AST) -> bool:
    """Whether a statement (other than those _follow reads) may change answer_e."""
    for n in ast.walk(node):
        if isinstance(n, (ast.Name, ast.Attribute, ast.Subscript)) and isinstance(
                getattr(n, "ctx", None), (ast.Store, ast.Del)) and _mentions(n):
            return True
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                and _is_name(n.func.value) and n.func.attr not in _READ_ONLY):
            return True
        if isinstance(n, ast.AugAssign) and _mentions(n.target):
            return True
    return False


def _code_cells(notebook_path: Path) -> tuple[list[str], int]:
    """Sources of the code cells, and the index among them of the answer cell."""
    try:
        nb = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Unreadable(f"notebook not found: {Path(notebook_path).name}") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        raise Unreadable("the notebook could not be read; was it saved from Jupyter?") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise Unreadable("the notebook could not be read; was it saved from Jupyter?")
    sources, answer = [], None
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata")
        nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
        if (answer is None and isinstance(nbgrader, dict)
                and nbgrader.get("grade_id") == ANSWER_GRADE_ID):
            answer = len(sources)
        source = cell.get("source", "")
        sources.append("".join(map(str, source)) if isinstance(source, list) else str(source))
    if answer is None:
        raise Unreadable("the answer cell of question (e) is missing from the notebook; "
                         "copy it back from a fresh copy of the assignment")
    return sources, answer


def _parse(source: str, cell: int) -> ast.Module | None:
    try:
        return ast.parse(_strip_magics(source))
    except (SyntaxError, ValueError, MemoryError, RecursionError) as err:
        line = getattr(err, "lineno", None)
        raise Unreadable(f"code cell {cell} is not valid Python"
                         + (f" (line {line}: {err.msg})" if isinstance(err, SyntaxError) else "")
                         + "; fix it so that answer_e can be read") from None


def read_value(notebook_path: str | Path) -> tuple[dict, list[int]]:
    """The raw value of answer_e in the saved notebook, and the code cells that set it."""
    sources, answer = _code_cells(Path(notebook_path))
    value: dict | None = None
    setters: list[int] = []
    for index, source in enumerate(sources):
        if index != answer and ANSWER_NAME not in source:
            continue  # a cell that never names answer_e cannot change it
        try:
            tree = _parse(source, index + 1)
        except Unreadable:
            if index == answer:
                raise
            continue  # a broken cell elsewhere stops there when run; it sets nothing
        value, changed = _follow(tree, value, index + 1)
        if changed:
            setters.append(index + 1)
    if value is None:
        raise Unreadable("no assignment `answer_e = {...}` found at the top level of a code "
                         "cell")
    return value, setters


def read_answer(notebook_path: str | Path = NOTEBOOK) -> Reading:
    """What the grader takes from the saved notebook for question (e). Never raises."""
    reading = Reading()
    try:
        value, reading.cells = read_value(notebook_path)
    except Unreadable as err:
        reading.error = str(err)
        return reading
    except Exception as err:  # noqa: BLE001 -- odd input must give a message, not a crash
        reading.error = f"the answer could not be read ({type(err).__name__})"
        return reading
    for key, text in value.items():
        panel = panel_key(key)
        if panel is None:
            reading.unknown_keys.append(repr(key))
            continue
        reading.labels[panel] = None
        reading.unreadable.pop(panel, None)
        if text is None or (isinstance(text, str) and not text.strip()):
            continue
        label = normalize_label(text)
        if label is None:
            reading.unreadable[panel] = text
        else:
            reading.labels[panel] = label
    return reading


def same_answer(runtime: object, reading: Reading) -> bool:
    """Whether a value of answer_e held by a kernel gives the labels read from the file."""
    if not isinstance(runtime, dict):
        return False
    labels: dict[str, str | None] = dict.fromkeys(PANELS)
    for key, text in runtime.items():
        panel = panel_key(key)
        if panel is not None:
            labels[panel] = normalize_label(text)
    return labels == reading.labels


def report(notebook_path: str | Path = NOTEBOOK, runtime: object = None) -> Reading:
    """Print what will be graded for (e) and what to fix; returns the reading.

    runtime: the kernel's answer_e, if any; a difference from the saved file means that
    the notebook was not saved after the last edit.
    """
    reading = read_answer(notebook_path)
    print(f"Question (e), read from the saved {Path(notebook_path).name} as the grader reads "
          f"it: {reading.summary()}")
    if reading.cells and reading.cells != [reading.cells[0]]:
        print(f"  (answer_e is set in code cells {', '.join(map(str, reading.cells))}; "
              "the last one wins)")
    for note in reading.problems():
        print(f"  to fix: {note}")
    if runtime is not None and reading.error is None and not same_answer(runtime, reading):
        print("  the answer_e in this kernel differs from the saved notebook: save the "
              "notebook (Ctrl+S) and run the check again; only the saved file is graded")
    if reading.complete:
        print("  format OK: four panels, four different labels (whether they are right is "
              "graded when you submit)")
    elif reading.error is None and not reading.problems():
        print(f"  still to label: panels {', '.join(reading.missing)}")
    return reading


def problems_to_fix(reading: Reading) -> list[str]:
    """Problems that the check cell reports as errors (an unfinished answer is not one)."""
    return reading.problems()


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parent / NOTEBOOK)
    sys.exit(0 if report(path).complete else 1)
