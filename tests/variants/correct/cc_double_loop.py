"""The plain textbook version: a Python double loop over output pixels.

Slow (one small tensor product per output pixel) but correct; the hidden tests must be
sized so that it finishes well inside the time limit.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    H, W = X.shape
    kh, kw = K.shape
    Y = torch.zeros((H - kh + 1, W - kw + 1), dtype=X.dtype, device=X.device)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()
    return Y
'''
