"""Uses ``as_strided`` with strides computed from the shape, ``(W, 1, W, 1)``, which is right
only for a contiguous X: a transposed X gives wrong windows.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "values for transposed (non-contiguous) inputs"
ORACLE = "cc_noncontiguous_inputs"
FEEDBACK = ("non-contiguous views",)
CODE = '''
def cross_corr_2d(X, K):
    H, W = X.shape
    kh, kw = K.shape
    win = X.as_strided((H - kh + 1, W - kw + 1, kh, kw), (W, 1, W, 1))
    return (win * K.to(X.dtype)).sum(dim=(2, 3))
'''
