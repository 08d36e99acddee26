"""Uses ``typing`` annotations (``List``), gathers one output row at a time from
``Tensor.unfold`` of a band of kh rows, and ``torch.cat``s the rows.
"""

TARGET = "cross_correlation.py"
CODE = '''
from typing import List


def cross_corr_2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    kh, kw = K.shape
    weights = K.to(X.dtype).reshape(-1)
    rows: List[torch.Tensor] = []
    for i in range(X.shape[0] - kh + 1):
        patches = X[i:i + kh].unfold(1, kw, 1)  # (kh, out_w, kw)
        patches = patches.permute(1, 0, 2).reshape(patches.shape[1], kh * kw)
        rows.append((patches @ weights).unsqueeze(0))
    return torch.cat(rows, dim=0)
'''
