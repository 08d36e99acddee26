"""Object-oriented: a small ``torch.nn.Module`` subclass (no parameters, ``super().__init__()``)
that holds the kernel and whose ``forward`` loops over the output rows;
``cross_corr_2d`` builds one and calls it.
"""

TARGET = "cross_correlation.py"
CODE = '''
class _Correlator(torch.nn.Module):
    """A fixed-kernel sliding window (what a 1-channel conv layer would do, by hand)."""

    def __init__(self, kernel):
        super().__init__()
        self.kernel = kernel
        self.kh, self.kw = kernel.shape

    def forward(self, X):
        k = self.kernel.to(X.dtype)
        oh, ow = X.shape[0] - self.kh + 1, X.shape[1] - self.kw + 1
        out = torch.empty((oh, ow), dtype=X.dtype, device=X.device)
        for i in range(oh):
            band = X[i:i + self.kh].unfold(1, self.kw, 1)  # (kh, ow, kw)
            out[i] = (band * k[:, None, :]).sum(dim=(0, 2))
        return out


def cross_corr_2d(X, K):
    return _Correlator(K)(X)
'''
