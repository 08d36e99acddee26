"""Shifted-slices method that accumulates in place into a slice of X.

``Y = X[:out_h, :out_w]`` is a view, so ``Y *= ...`` and ``Y += ...`` write into X itself;
later shifts then read the already-overwritten pixels.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "X compared with a copy taken before the call"
ORACLE = "cc_inputs_unmodified"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    out_h, out_w = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = X[:out_h, :out_w]
    Y *= K[0, 0]
    for a in range(kh):
        for b in range(kw):
            if a or b:
                Y += X[a:a + out_h, b:b + out_w] * K[a, b]
    return Y
'''
