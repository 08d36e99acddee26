"""Computes with numpy and returns ``torch.from_numpy(result)`` where the result was built with
``np.zeros`` (float64), so a float32 X gets a float64 Y.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "Y has X's dtype"
ORACLE = "cc_dtype"
CODE = '''
import numpy as np


def cross_corr_2d(X, K):
    x, k = X.numpy(), K.numpy()
    kh, kw = k.shape
    y = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            y[i, j] = (x[i:i + kh, j:j + kw] * k).sum()
    return torch.from_numpy(y)
'''
