"""Decorates ``cross_corr_2d`` with ``@torch.no_grad()`` (autograd is not needed for a
forward-only helper) and accumulates tap by tap into a ``torch.zeros(..., requires_grad=False)``
buffer, the keyword spelled out.
"""

TARGET = "cross_correlation.py"
CODE = '''
@torch.no_grad()
def cross_corr_2d(X, K):
    kh, kw = K.shape
    oh, ow = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = torch.zeros(oh, ow, dtype=X.dtype, device=X.device, requires_grad=False)
    k = K.to(X.dtype)
    for a in range(kh):
        for b in range(kw):
            Y += X[a:a + oh, b:b + ow] * k[a, b]
    return Y
'''
