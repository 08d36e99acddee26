"""Instructor side of the homework: build, release, hidden tests and the isolated grader.

Nothing in this package is shipped to students (see ``python -m autograder release``).
"""
