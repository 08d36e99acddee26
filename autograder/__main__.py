"""Command line: ``python -m autograder {build,check,release,solution,grade,...}``."""

import os
import sys

from .cli import main

code = main()
# The command has finished and written everything (reports are closed, the journal is
# fsynced, every sandbox is closed and its folder removed); what is left is the
# interpreter's teardown, which with torch loaded costs ~1 s of CPU at the end of every
# `grade`. Output is flushed first; a command that raised still exits the usual way.
sys.stdout.flush()
sys.stderr.flush()
os._exit(code if isinstance(code, int) else 1 if code else 0)
