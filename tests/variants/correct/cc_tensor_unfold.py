"""All windows at once with ``Tensor.unfold`` (a strided view), then one broadcast product.

``X.unfold(0, kh, 1).unfold(1, kw, 1)`` has shape (out_h, out_w, kh, kw); no library
convolution is involved, so this is allowed.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    windows = X.unfold(0, kh, 1).unfold(1, kw, 1)
    return (windows * K.to(X.dtype)).sum(dim=(-2, -1))
'''
