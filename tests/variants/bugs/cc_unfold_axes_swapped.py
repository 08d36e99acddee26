"""Unfolds the columns first, ``X.unfold(1, kw, 1).unfold(0, kh, 1)``, whose windows come out
as (kw, kh), and multiplies them by K unchanged: wrong values, or a broadcasting error for a
non-square kernel.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "values for non-square kernels"
ORACLE = "cc_values_nonsquare"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    windows = X.unfold(1, kw, 1).unfold(0, kh, 1)
    return (windows * K.reshape(kw, kh)).sum(dim=(2, 3))
'''
