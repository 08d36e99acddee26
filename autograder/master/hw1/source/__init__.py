"""Your implementations for the homework.

Edit ``cross_correlation.py`` and ``batchnorm.py``; ``gradcheck.py`` is a provided helper.
Each module is imported on its own, so a mistake in one file does not stop the other from
being graded.
"""
