# Student copy generated from autograder/master/hw1/source/cross_correlation.py by `python -m autograder build`.
# Students: write your code in this file. Instructors: edit the master copy.
"""2-D cross-correlation, the operation that deep-learning libraries call "convolution"."""

import torch


def cross_corr_2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Valid-mode 2-D cross-correlation of X with the kernel K.

    The kernel is slid over X without flipping it, without padding and with stride 1:

        Y[i, j] = sum over a, b of X[i + a, j + b] * K[a, b]

    Inputs:
    - X: tensor of shape (H, W).
    - K: tensor of shape (kh, kw), with kh <= H and kw <= W.

    Returns:
    - Y: tensor of shape (H - kh + 1, W - kw + 1), with the dtype and device of X
      (float64 in, float64 out).

    X and K need not be square, and may be non-contiguous views (a transposed tensor, a
    slice of a larger one): do not assume row-major strides. X and K must not be modified.

    The point is to write the sliding window yourself, so library convolutions and
    correlations are forbidden by whatever route: torch.nn.functional conv*, torch.conv*,
    nn.Conv* modules, torch.nn.grad.*, the ATen convolution operators, scipy.signal and
    numpy correlate/convolve. Allowed: slicing, loops, unfold, as_strided,
    einsum, matmul, and numpy inside as long as a torch tensor of X's dtype and device comes
    back. A hidden test whose function uses a forbidden call scores 0, and the submission is
    flagged for review.
    """
    # YOUR CODE HERE: cross_corr_2d
    raise NotImplementedError("cross_corr_2d is not implemented yet: write it in source/cross_correlation.py")
