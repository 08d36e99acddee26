"""The judge's one way into Python's parser: ``ast.parse`` behind one lock.

CPython 3.11's parser keeps a recursion counter for building AST objects in state shared
by all threads. When a collection runs a ``__del__`` that lets another thread take the
interpreter lock in the middle of a parse, the two parses count on one counter and one of
them fails with ``SystemError: AST constructor recursion depth mismatch`` (grading with
``--jobs 2``: 31 failures in 600). Everything on the judge side that parses Python text (the
static check, the review, the (e) reader, the similarity tokenizer) goes through here, so
no two threads are ever inside the parser at once. Parsing is a small part of grading, so
the lock costs next to nothing.
"""

from __future__ import annotations

import ast
import threading

#: Held by whoever is inside ``ast.parse``; also for callers that parse through a library
#: function of their own (the (e) reader): ``with PARSE_LOCK: ...``.
PARSE_LOCK = threading.RLock()


def parse(text: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse(text, filename)``, one thread at a time; raises what ast.parse raises."""
    with PARSE_LOCK:
        return ast.parse(text, filename=filename)
