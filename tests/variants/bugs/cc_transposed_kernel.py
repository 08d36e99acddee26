"""The kernel is transposed: the student mixed up which index of K is the row.

Written as ``K = K.T`` "so that the first index runs along the width", which also turns
the output shape around when K is not square.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "values on a square but asymmetric kernel; shape with a non-square kernel"
ORACLE = "cc_values_square"
CODE = '''
def cross_corr_2d(X, K):
    K = K.T
    kh, kw = K.shape
    out_h, out_w = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = torch.zeros(out_h, out_w, dtype=X.dtype, device=X.device)
    for i in range(out_h):
        for j in range(out_w):
            Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()
    return Y
'''
