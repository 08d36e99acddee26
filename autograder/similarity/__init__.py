"""Copied code and copied warm-up answers across a class: ``python -m autograder similarity``.

Two comparisons, one report:

- **Code.** Every ``source/**/*.py`` of a submission is read as text and turned into a token
  stream with Python's own ``tokenize``: comments, docstrings, layout and string contents are
  dropped, and every name the submission binds itself (variables, parameters, its functions,
  import aliases) becomes one placeholder, while library names (``torch``, ``.unfold``,
  ``dim=``) stay, because a copier cannot rename them and independent authors pick them
  differently. Fingerprints are chosen from hashes of K-token windows with copydetect's
  winnowing (robust winnowing, as in MOSS): every common run of at least
  ``K + WINDOW - 1`` tokens is found wherever it sits, so reordered functions still match.
  Whatever the release stubs and the notebook's own code contain is boilerplate: it is
  neither matched nor counted.
- **Answers.** Each markdown answer (a)-(j), but the autograded (e), is normalised
  (markdown, links, HTML, punctuation and case dropped) and cut into word N-grams; two
  answers to the same question are compared by containment. The question text and the
  answer template are boilerplate. The model answers of ``written_answers.md`` take part
  as one more submission, ``model-answer``, so copying the key shows up as a pair.
- **Clusters and past terms.** Pairs above the threshold are grouped into clusters (one
  group for a many-way copy, its earliest and most complete member named), and
  ``--against DIR`` compares the class one way with earlier terms' submissions or known
  solutions, never those with each other. Each pair's score is explained in plain words.

Student files are only read, never imported or run: the similarity step is safe on hostile
submissions. A file or notebook that cannot be read (not UTF-8, too large, not a notebook,
a link) is reported in ``notes`` and left out; it never stops the run.
"""

from .clustering import clusters, explain, submitted_at
from .compare import (
    DEFAULT_MIN_SCORE,
    DEFAULT_THRESHOLD,
    MIN_CODE_TOKENS,
    MIN_SHINGLES,
    Report,
    compare,
    references,
    unique_names,
)
from .submissions import MODEL_ANSWER, QUESTIONS, boilerplate, read_answers, read_submission
from .tokens import N_WORDS, WINDOW, K, answer_words, kgram_hashes, tokenize_code, winnow
from .views import (
    DEFAULT_HTML_PAIRS,
    for_grade,
    report_section,
    run_command,
    summary_lines,
    write_html,
    write_json,
)

__all__ = [
    "DEFAULT_HTML_PAIRS", "DEFAULT_MIN_SCORE", "DEFAULT_THRESHOLD", "K", "MIN_CODE_TOKENS",
    "MIN_SHINGLES", "MODEL_ANSWER", "N_WORDS", "QUESTIONS", "WINDOW", "Report", "answer_words",
    "boilerplate", "clusters", "compare", "explain", "for_grade", "kgram_hashes",
    "read_answers", "read_submission", "references", "report_section", "run_command",
    "submitted_at", "summary_lines", "tokenize_code", "unique_names", "winnow", "write_html",
    "write_json",
]
