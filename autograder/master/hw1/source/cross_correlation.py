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
    ### BEGIN SOLUTION
    kh, kw = K.shape
    out_h, out_w = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    # Each kernel tap is one vectorized multiply-add of a shifted window of X: kh * kw
    # whole-array operations instead of a Python loop over every output pixel. The weights
    # travel as Python numbers, which saves indexing K on every tap.
    weights = K.to(X.dtype).tolist()
    Y = X[:out_h, :out_w] * weights[0][0]
    for a in range(kh):
        rows = X[a:a + out_h]
        for b in range(kw):
            if a or b:
                Y.add_(rows[:, b:b + out_w], alpha=weights[a][b])
    return Y
    ### END SOLUTION
