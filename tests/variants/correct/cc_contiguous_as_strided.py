"""Calls ``X.contiguous()`` first so that it can assume row-major strides, then uses
``Tensor.as_strided`` and ``sum`` over the window axes.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    X = X.contiguous()
    H, W = X.shape
    kh, kw = K.shape
    win = X.as_strided((H - kh + 1, W - kw + 1, kh, kw), (W, 1, W, 1))
    return (win * K).sum(dim=(2, 3))
'''
