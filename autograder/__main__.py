"""Command line: ``python -m autograder {build,check,release,solution,grade,...}``."""

import sys

from .cli import main

sys.exit(main())
