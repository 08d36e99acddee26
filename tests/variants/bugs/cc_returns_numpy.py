"""Does the work in NumPy and returns the NumPy array instead of a tensor."""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "the result must be a torch.Tensor"
ORACLE = "cc_returns_tensor"
FEEDBACK = ("torch.from_numpy",)
CODE = '''
import numpy as np


def cross_corr_2d(X, K):
    x, k = X.numpy(), K.numpy()
    kh, kw = k.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1), dtype=x.dtype)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + kh, j:j + kw] * k)
    return out
'''
