"""Checks the shapes with ``assert`` statements, makes a ``.contiguous()`` copy of X so that
its own strides are row-major, builds the windows with ``torch.as_strided`` on that copy and
multiplies the (oh*ow, kh*kw) matrix by the flattened kernel.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    assert X.dim() == 2 and K.dim() == 2, "X and K must be 2-D"
    H, W = X.shape
    kh, kw = K.shape
    assert kh <= H and kw <= W, (
        "kernel larger than input: valid mode, no padding (unlike F.conv2d(padding=...))")
    Xc = X.contiguous()
    sh, sw = Xc.stride()
    oh, ow = H - kh + 1, W - kw + 1
    win = torch.as_strided(Xc, (oh, ow, kh, kw), (sh, sw, sh, sw), Xc.storage_offset())
    Y = win.reshape(oh * ow, kh * kw) @ K.to(X.dtype).reshape(kh * kw)
    Y = Y.reshape(oh, ow)
    assert Y.shape == (oh, ow)
    return Y
'''
