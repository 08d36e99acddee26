"""Builds the (out_h, out_w, kh, kw) window view with ``as_strided`` and contracts it with
``einsum``. Uses X's own strides and offset, so transposed or sliced inputs work too.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    out_h, out_w = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    s0, s1 = X.stride()
    windows = torch.as_strided(X, size=(out_h, out_w, kh, kw), stride=(s0, s1, s0, s1),
                               storage_offset=X.storage_offset())
    return torch.einsum("ijab,ab->ij", windows, K.to(X.dtype))
'''
