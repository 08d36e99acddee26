"""For each kernel row, builds a banded (W, out_w) matrix whose columns hold that row at
every shift, and multiplies the matching rows of X by it: ``conv_out += X[a:a+oh] @ band``.
The docstring calls it the matrix form of ``F.conv2d``.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    """Cross-correlation as kh matrix products (the matrix form of what F.conv2d does)."""
    H, W = X.shape
    kh, kw = K.shape
    oh, ow = H - kh + 1, W - kw + 1
    K = K.to(dtype=X.dtype, device=X.device)
    conv_out = torch.zeros(oh, ow, dtype=X.dtype, device=X.device)
    for a in range(kh):
        band = torch.zeros(W, ow, dtype=X.dtype, device=X.device)
        for j in range(ow):
            band[j:j + kw, j] = K[a]
        conv_out += X[a:a + oh] @ band
    return conv_out
'''
