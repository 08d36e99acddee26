"""Functional style: one shifted, weighted window of X per kernel tap, summed with
``functools.reduce`` over a generator; ``typing`` annotations on the helper.
"""

TARGET = "cross_correlation.py"
CODE = '''
import functools
from typing import Iterator, Tuple


def _taps(kh: int, kw: int) -> Iterator[Tuple[int, int]]:
    for a in range(kh):
        for b in range(kw):
            yield a, b


def cross_corr_2d(X, K):
    kh, kw = K.shape
    oh, ow = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    K = K.to(X.dtype)
    terms = (X[a:a + oh, b:b + ow] * K[a, b] for a, b in _taps(kh, kw))
    return functools.reduce(lambda acc, t: acc + t, terms)
'''
