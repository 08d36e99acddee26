"""What Gradescope's ``run_autograder`` runs: ``python -m autograder gradescope-run``.

Students upload however they like: the loose files dragged in, a zip of the folder or of
its files, the folder nested one or two levels down. Each graded file is found by its
name wherever the upload put it (zips are opened, at most ``MAX_ZIP_DEPTH`` deep) and
copied to where the grader expects it; files with the same name and the same bytes count
once. Two different files of the same graded name are refused: the student gets a score
of 0 and a message naming both, rather than a grade of the wrong file.

The root is ``/autograder`` on Gradescope (``--root`` or ``$AUTOGRADER_ROOT`` elsewhere):
the upload is in ``ROOT/submission``, the results go to ``ROOT/results/results.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import files, zips
from .assignment import MODULES, SHIPPED
from .grade import NOTEBOOK, TEMPLATE_ANSWER
from .results import has_error

DEFAULT_ROOT = "/autograder"
#: graded name -> where the grader expects it in the submission folder
GRADED = {NOTEBOOK: NOTEBOOK, **{f"{m}.py": f"source/{m}.py" for m in MODULES}}
#: the package's other files: taken from the folder the graded modules came from
COMPANIONS = tuple(f"{m}.py" for m in SHIPPED)
MAX_ZIP_DEPTH = 3
#: the (e) answer cell as released: its one line of code with every label empty
E_STUB = 'answer_e = {"A": "", "B": "", "C": "", "D": ""}'


class AmbiguousUpload(Exception):
    """Two different files of one graded name; the message is the student's."""


@dataclass
class Upload:
    folder: Path
    notes: list[str] = field(default_factory=list)


def _candidates(upload: Path, scratch: Path, notes: list[str]) -> list[tuple[str, Path]]:
    """(name as the student sees it, file) for every regular file of the upload, zips opened."""
    found: list[tuple[str, Path]] = []
    queue: list[tuple[Path, str, int]] = [(upload, "", 0)]
    opened = 0
    while queue:
        folder, prefix, depth = queue.pop(0)
        listing = files.walk(folder, prefix or "upload")
        for rel, _ in listing.files:
            shown_rel = f"{prefix}{rel}"
            if zips.ignored(rel):
                continue
            path = folder / rel
            if rel.lower().endswith(".zip") and depth < MAX_ZIP_DEPTH:
                opened += 1
                dest = scratch / f"zip{opened}"
                dest.mkdir()
                zips.unzip(path, dest, shown_rel, notes)
                queue.append((dest, f"{shown_rel}:", depth + 1))
            else:
                found.append((shown_rel, path))
    return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pick(name: str, matches: list[tuple[str, Path]]) -> tuple[str, Path] | None:
    """The one file of that name (identical copies count once); AmbiguousUpload otherwise."""
    if not matches:
        return None
    distinct: dict[str, tuple[str, Path]] = {}
    for shown_rel, path in matches:
        distinct.setdefault(_digest(path), (shown_rel, path))
    if len(distinct) > 1:
        where = "\n".join(f"  - {files.shown(s)}" for s, _ in sorted(distinct.values()))
        raise AmbiguousUpload(
            f"Your upload holds {len(distinct)} different files named {name}:\n{where}\n"
            "The grader cannot tell which one to grade. Upload exactly one of each "
            f"graded file ({', '.join(GRADED)}) and submit again.")
    return next(iter(distinct.values()))


def holds_answers(path: Path) -> bool | None:
    """Whether a notebook holds any answer of the student's: True, False for the
    untouched release notebook, None where it cannot be read (then it is not known to be
    blank, and is never set aside)."""
    try:
        nb = json.loads(path.read_bytes().decode("utf-8"))
        cells = nb["cells"]
        answered = False
        for cell in cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not meta.get("solution"):
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            if cell.get("cell_type") == "markdown":
                answered |= source.strip() != TEMPLATE_ANSWER
            else:  # the (e) cell: anything but comments and the empty labels
                code = [ln.strip() for ln in source.splitlines()
                        if ln.strip() and not ln.strip().startswith("#")]
                answered |= code != [E_STUB]
        return answered
    except (ValueError, KeyError, TypeError, AttributeError, OSError):
        return None


def _pick_notebook(notebooks: list[tuple[str, Path]], notes: list[str]
                   ) -> tuple[str, Path] | None:
    """The notebook to grade, whatever the browser renamed it to ("assignment (1).ipynb").
    Identical copies count once; of two different ones, the one with answers is graded
    when every other is the untouched release notebook; otherwise AmbiguousUpload."""
    distinct: dict[str, tuple[str, Path]] = {}
    for shown_rel, path in sorted(notebooks, key=lambda sp: (
            PurePosixPath(sp[0].replace(":", "/")).name != NOTEBOOK, sp[0])):
        distinct.setdefault(_digest(path), (shown_rel, path))
    if not distinct:
        return None
    chosen = list(distinct.values())
    if len(chosen) > 1:
        answers = {s: holds_answers(p) for s, p in chosen}
        with_answers = [(s, p) for s, p in chosen if answers[s] is not False]
        if len(with_answers) == 1 and all(answers[s] is False for s, _ in chosen
                                          if s != with_answers[0][0]):
            blank = ", ".join(files.shown(s) for s, _ in chosen if s != with_answers[0][0])
            notes.append(f"graded {files.shown(with_answers[0][0])}, the one notebook with "
                         f"answers; set aside the untouched {blank}")
            chosen = with_answers
        else:
            where = "\n".join(f"  - {files.shown(s)}" for s, _ in sorted(chosen))
            raise AmbiguousUpload(
                f"Your upload holds {len(chosen)} different notebooks:\n{where}\n"
                "The grader cannot tell which one to grade. Upload exactly one notebook "
                f"({NOTEBOOK}) and submit again.")
    shown_rel, path = chosen[0]
    if PurePosixPath(shown_rel.replace(":", "/")).name != NOTEBOOK and not any(
            n.startswith("graded ") for n in notes):
        notes.append(f"graded {files.shown(shown_rel)} as {NOTEBOOK}")
    return chosen[0]


def collect(upload: Path, dest: Path, scratch: Path) -> Upload:
    """Lay out the graded files of ``upload`` in ``dest`` as the grader expects them."""
    notes: list[str] = []
    found = _candidates(upload, scratch, notes)
    by_name: dict[str, list[tuple[str, Path]]] = {}
    for shown_rel, path in found:
        by_name.setdefault(PurePosixPath(shown_rel.replace(":", "/")).name, []).append(
            (shown_rel, path))
    notebooks = [(s, p) for s, p in found if s.lower().endswith(".ipynb")]
    # Copies the browser renamed ("assignment (1).ipynb") are the assignment's; another
    # notebook ("hw1.ipynb") is taken only where no notebook has the assignment's name.
    ours = [(s, p) for s, p in notebooks
            if PurePosixPath(s.replace(":", "/")).name.lower().startswith(NOTEBOOK[:-6])]
    notebook = _pick_notebook(ours or notebooks, notes)
    if notebook is not None:
        by_name[NOTEBOOK] = [notebook]
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "source").mkdir(exist_ok=True)
    module_dirs = set()
    for name, target in GRADED.items():
        picked = _pick(name, by_name.get(name, []))
        if picked is None:
            notes.append(f"no {name} in the upload")
            continue
        shutil.copyfile(picked[1], dest / target)
        if target.startswith("source/"):
            module_dirs.add(picked[1].parent)
    # The package's other files (__init__.py, helpers) from the folder of the graded
    # modules, when that folder is the student's source/ package.
    for folder in module_dirs:
        if folder.name != "source":
            continue
        for entry in sorted(folder.iterdir()):
            if (entry.suffix == ".py" and entry.name not in GRADED and entry.is_file()
                    and not entry.is_symlink()):
                shutil.copyfile(entry, dest / "source" / entry.name)
    return Upload(dest, notes)


def _results_json(root: Path, payload: dict) -> Path:
    from . import reports

    reports.validate(payload, "gradescope")
    out = root / "results"
    out.mkdir(parents=True, exist_ok=True)
    return reports.atomic_write(out / "results.json", reports._dump_json(payload))


def grading_error_payload() -> dict:
    """results.json where the grader failed before grading: no score of the student's."""
    from .reports import GRADING_ERROR_TEXT

    text = (f"{GRADING_ERROR_TEXT} The autograder failed while reading your upload; this "
            "is not your grade, and you do not need to do anything.")
    return {"score": 0.0, "output": text, "output_format": "text",
            "extra_data": {"grading_error": ["upload"]},
            "tests": [{"name": "Grading error", "status": "failed", "output": text,
                       "visibility": "visible"}]}


def run(root: Path) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json``."""
    from . import reports
    from .batch import grade_many

    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        work = Path(tmp)
        (work / "scratch").mkdir()
        try:
            upload = collect(root / "submission", work / "submission", work / "scratch")
        except AmbiguousUpload as exc:
            message = str(exc)
            print(message)
            _results_json(root, {"score": 0.0, "output": message, "output_format": "text",
                                 "tests": [{"name": "Upload", "status": "failed",
                                            "output": message, "visibility": "visible"}]})
            return 0
        except Exception:  # a bug of ours reading the upload: never the student's 0
            traceback.print_exc(file=sys.stdout)  # stdout: seen by the instructor only
            _results_json(root, grading_error_payload())
            return 0
        for note in upload.notes:
            print(f"upload: {note}")
        try:
            [result] = grade_many([upload.folder])
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        result["submission"] = "submission"
        if has_error(result):
            print("grading error: the grader failed on this submission; its tests are "
                  "pending (see the traceback above); the student was told")
        payload = reports.gradescope_results(result)
        if upload.notes:
            text = "Upload: " + "; ".join(upload.notes) + "."
            payload["output"] = f"{text}\n{payload['output']}"
            payload["tests"][0]["output"] += f"\n{text}"
        path = _results_json(root, payload)
        print(f"score {payload['score']:g}; wrote {path}")
    return 0


def main(root: str | None = None) -> int:
    return run(Path(root or os.environ.get("AUTOGRADER_ROOT") or DEFAULT_ROOT))
