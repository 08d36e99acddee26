"""Adds up one shifted slice of X per kernel tap with Python's built-in ``sum``.

Unlike the reference it never writes into a buffer: each term is a new tensor.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    out_h, out_w = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    K = K.to(X.dtype)
    terms = (K[a, b] * X[a:a + out_h, b:b + out_w] for a in range(kh) for b in range(kw))
    return sum(terms, torch.zeros(out_h, out_w, dtype=X.dtype, device=X.device))
'''
