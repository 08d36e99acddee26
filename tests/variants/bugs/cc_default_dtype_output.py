"""Output buffer made with ``torch.zeros(out_h, out_w)``: always float32.

Values look right, but float64 inputs come back as float32 (and integer inputs as floats).
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "dtype check: float64 X must give a float64 Y"
ORACLE = "cc_dtype"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    out_h, out_w = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = torch.zeros(out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()
    return Y
'''
