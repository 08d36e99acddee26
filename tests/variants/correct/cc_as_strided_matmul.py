"""Builds the windows with ``torch.as_strided`` using X's own strides (so transposed inputs
work), flattens each window and multiplies by the flattened kernel with ``@``.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    H, W = X.shape
    kh, kw = K.shape
    oh, ow = H - kh + 1, W - kw + 1
    s0, s1 = X.stride()
    windows = torch.as_strided(X, size=(oh, ow, kh, kw), stride=(s0, s1, s0, s1),
                               storage_offset=X.storage_offset())
    return (windows.reshape(oh * ow, kh * kw) @ K.to(X.dtype).reshape(kh * kw)).reshape(oh, ow)
'''
