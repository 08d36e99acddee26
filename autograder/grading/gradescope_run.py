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
import os
import shutil
import stat
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import files
from .assignment import MODULES, SHIPPED
from .grade import NOTEBOOK

DEFAULT_ROOT = "/autograder"
#: graded name -> where the grader expects it in the submission folder
GRADED = {NOTEBOOK: NOTEBOOK, **{f"{m}.py": f"source/{m}.py" for m in MODULES}}
#: the package's other files: taken from the folder the graded modules came from
COMPANIONS = tuple(f"{m}.py" for m in SHIPPED)
IGNORED_PARTS = frozenset({"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"})
MAX_ZIP_DEPTH = 3
MAX_UNZIPPED = 256 << 20
MAX_ZIP_ENTRIES = 5000


class AmbiguousUpload(Exception):
    """Two different files of one graded name; the message is the student's."""


@dataclass
class Upload:
    folder: Path
    notes: list[str] = field(default_factory=list)


def _ignored(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return any(p in IGNORED_PARTS or p.startswith("._") for p in parts)


def _unzip(archive: Path, dest: Path, label: str, notes: list[str]) -> None:
    """Extract archive into dest: regular files only, no absolute or ``..`` paths, bounded."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                notes.append(f"{label} holds more than {MAX_ZIP_ENTRIES} entries; not opened")
                return
            total = 0
            for info in infos:
                name = PurePosixPath(info.filename)
                mode = info.external_attr >> 16
                if info.is_dir() or (mode and not stat.S_ISREG(mode)):
                    continue
                if name.is_absolute() or ".." in name.parts or _ignored(info.filename):
                    continue
                total += info.file_size
                if total > MAX_UNZIPPED:
                    notes.append(f"{label} unpacks to more than {MAX_UNZIPPED >> 20} MiB; "
                                 "the rest was ignored")
                    return
                target = dest.joinpath(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
        notes.append(f"{label} could not be opened as a zip ({exc})")


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
            if _ignored(rel):
                continue
            path = folder / rel
            if rel.lower().endswith(".zip") and depth < MAX_ZIP_DEPTH:
                opened += 1
                dest = scratch / f"zip{opened}"
                dest.mkdir()
                _unzip(path, dest, shown_rel, notes)
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


def collect(upload: Path, dest: Path, scratch: Path) -> Upload:
    """Lay out the graded files of ``upload`` in ``dest`` as the grader expects them."""
    notes: list[str] = []
    found = _candidates(upload, scratch, notes)
    by_name: dict[str, list[tuple[str, Path]]] = {}
    for shown_rel, path in found:
        by_name.setdefault(PurePosixPath(shown_rel.replace(":", "/")).name, []).append(
            (shown_rel, path))
    if NOTEBOOK not in by_name:
        # A renamed notebook ("assignment (1).ipynb", "hw1.ipynb"): fine when it is the only one.
        notebooks = [(s, p) for s, p in found if s.lower().endswith(".ipynb")]
        if len({_digest(p) for _, p in notebooks}) == 1:
            notes.append(f"graded {files.shown(notebooks[0][0])} as {NOTEBOOK}")
            by_name[NOTEBOOK] = notebooks
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
        for note in upload.notes:
            print(f"upload: {note}")
        try:
            [result] = grade_many([upload.folder])
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        result["submission"] = "submission"
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
