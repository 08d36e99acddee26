# Student copy generated from autograder/master/hw1/source/__init__.py by `python -m autograder build`.
# Students: write your code in this file. Instructors: edit the master copy.
"""Your implementations for the homework.

Edit ``cross_correlation.py`` and ``batchnorm.py``; ``gradcheck.py`` is a provided helper.
Each module is imported on its own, so a mistake in one file does not stop the other from
being graded.
"""
