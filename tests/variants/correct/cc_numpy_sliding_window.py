"""numpy's ``sliding_window_view`` and ``np.tensordot``, converted back to a torch tensor of
X's dtype (allowed: numpy inside, a torch tensor out).
"""

TARGET = "cross_correlation.py"
CODE = '''
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def cross_corr_2d(X, K):
    x, k = X.numpy(), K.numpy()
    windows = sliding_window_view(x, k.shape)
    y = np.tensordot(windows, k.astype(x.dtype), axes=([2, 3], [0, 1]))
    return torch.tensor(y, dtype=X.dtype, device=X.device)
'''
