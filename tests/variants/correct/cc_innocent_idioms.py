"""Honest code that an old blocklist review misread: ``import torch.nn.functional as F`` used
only for ``F.pad``/``F.unfold``, a helper called ``correlate_rows``, a local ``conv_out``, a
docstring and an error message that name ``F.conv2d``, ``math``, ``functools`` and
``typing`` imports, ``type(self).__name__`` and ``super().__init__()``.

None of it may be flagged or cost a point (SPEC.md: only what ran takes points; the review
flags only what the assignment does not allow).
"""

TARGET = "cross_correlation.py"
CODE = '''
import functools
import math
from typing import Optional

import torch.nn.functional as F


class _Shape(tuple):
    """The output size, (H - kh + 1, W - kw + 1)."""

    def __new__(cls, X, K):
        return super().__new__(cls, (X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1))

    def __repr__(self) -> str:
        return f"{type(self).__name__}{tuple(self)}"


@functools.lru_cache(maxsize=None)
def _count(kh: int, kw: int) -> int:
    return math.prod((kh, kw))


def correlate_rows(X, K, shape: Optional[_Shape] = None):
    """Each window times K, summed: what F.conv2d would give, written by hand."""
    kh, kw = K.shape
    work = X if X.is_floating_point() else X.double()
    # F.pad with zero padding is a no-op copy here: it only shows that F itself is allowed.
    conv_out = F.pad(work, (0, 0, 0, 0))
    columns = F.unfold(conv_out[None, None], kernel_size=(kh, kw))[0]
    assert columns.shape[0] == _count(kh, kw)
    return (K.reshape(1, -1).to(work.dtype) @ columns).reshape(shape)


def cross_corr_2d(X, K):
    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:
        raise ValueError("K is larger than X (and F.conv2d is not allowed here anyway)")
    Y = correlate_rows(X, K, _Shape(X, K))
    if not X.is_floating_point():
        Y = Y.round()
    return Y.to(X.dtype)
'''
