"""Does the work in numpy (``np.einsum`` over a ``sliding_window_view``), returns a torch
tensor of X's dtype and device, and leaves an ``if __name__ == "__main__":`` self-test with
the notebook's worked example at the bottom of the module. Dtypes numpy lacks (bfloat16) go
through float32.
"""

TARGET = "cross_correlation.py"
CODE = '''
import numpy as np


def cross_corr_2d(X, K):
    work = X if X.dtype != torch.bfloat16 else X.float()
    x = work.detach().cpu().numpy()
    k = K.detach().cpu().to(work.dtype).numpy()
    windows = np.lib.stride_tricks.sliding_window_view(x, k.shape)
    y = np.einsum("ijab,ab->ij", windows, k).astype(x.dtype, copy=False)
    return torch.from_numpy(np.ascontiguousarray(y)).to(dtype=X.dtype, device=X.device)


if __name__ == "__main__":
    X_demo = torch.tensor([[0, 5, 8], [2, -1, 4], [4, 3, 7]])
    K_demo = torch.tensor([[5, -1], [3, 1]])
    print(cross_corr_2d(X_demo, K_demo))  # expect [[0, 18], [26, 7]]
'''
