"""Loops over the kernel taps with ``itertools.product`` and adds shifted windows of X into an
``X.new_zeros`` accumulator; the signature uses ``from torch import Tensor`` type hints.
"""

TARGET = "cross_correlation.py"
CODE = '''
import itertools

from torch import Tensor


def cross_corr_2d(X: Tensor, K: Tensor) -> Tensor:
    kh, kw = K.shape
    oh, ow = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = X.new_zeros((oh, ow))
    kernel = K.to(X.dtype)
    for a, b in itertools.product(range(kh), range(kw)):
        Y += kernel[a, b] * X[a:a + oh, b:b + ow]
    return Y
'''
