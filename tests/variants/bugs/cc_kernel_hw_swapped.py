"""Kernel height and width swapped in the output size (``H - kw + 1, W - kh + 1``).

Correct whenever K is square, which is all the student tried.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "shape and values with a non-square X and a non-square K"
ORACLE = "cc_values_nonsquare"
CODE = '''
def cross_corr_2d(X, K):
    H, W = X.shape
    kh, kw = K.shape
    out_h, out_w = H - kw + 1, W - kh + 1
    Y = torch.zeros(out_h, out_w, dtype=X.dtype, device=X.device)
    for i in range(out_h):
        for j in range(out_w):
            Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()
    return Y
'''
