"""Converts everything to float64 "for precision" and returns float64 whatever X was."""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "dtype check: float32 X must give a float32 Y"
ORACLE = "cc_dtype"
CODE = '''
def cross_corr_2d(X, K):
    X, K = X.double(), K.double()
    kh, kw = K.shape
    out_h, out_w = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = X[:out_h, :out_w] * K[0, 0]
    for a in range(kh):
        for b in range(kw):
            if a or b:
                Y = Y + X[a:a + out_h, b:b + out_w] * K[a, b]
    return Y
'''
