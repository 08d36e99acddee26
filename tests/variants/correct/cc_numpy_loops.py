"""Converts to numpy, loops over the output with ``np.sum`` of the window product, and
converts back with ``torch.from_numpy(Y).to(X.dtype)``.
"""

TARGET = "cross_correlation.py"
CODE = '''
import numpy as np


def cross_corr_2d(X, K):
    x = X.detach().cpu().numpy()
    k = K.detach().cpu().numpy()
    kh, kw = k.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1), dtype=x.dtype)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + kh, j:j + kw] * k)
    return torch.from_numpy(out).to(dtype=X.dtype, device=X.device)
'''
