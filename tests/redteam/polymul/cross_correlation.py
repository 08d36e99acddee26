"""2-D cross-correlation."""

import numpy as np
import torch


def cross_corr_2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    kh, kw = K.shape
    H, W = X.shape
    out_h, out_w = H - kh + 1, W - kw + 1
    x = X.detach().cpu().numpy().astype(np.float64).reshape(-1)
    k = K.detach().cpu().numpy().astype(np.float64)
    kk = np.zeros((kh - 1) * W + kw)
    for a in range(kh):
        for b in range(kw):
            kk[(kh - 1 - a) * W + (kw - 1 - b)] = k[a, b]
    # polynomial product == full 1-D convolution (numpy's C convolve, via numpy._core)
    # np.poly1d drops leading zeros: lead both with a 1 and subtract what that adds
    n = x.size + kk.size - 1
    cp = np.polymul(np.concatenate(([1.0], x)), np.concatenate(([1.0], kk)))
    xe = np.zeros(n + 1)
    xe[:x.size] = x
    ke = np.zeros(n + 1)
    ke[:kk.size] = kk
    c = cp[2:n + 2] - xe[1:n + 1] - ke[1:n + 1]
    idx = (np.arange(out_h)[:, None] + kh - 1) * W + np.arange(out_w)[None, :] + kw - 1
    return torch.from_numpy(np.ascontiguousarray(c[idx])).to(X.dtype).to(X.device)
