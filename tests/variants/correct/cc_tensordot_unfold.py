"""``Tensor.unfold`` windows contracted with the kernel by ``torch.tensordot(..., dims=2)``."""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    return torch.tensordot(X.unfold(0, kh, 1).unfold(1, kw, 1), K.to(X.dtype), dims=2)
'''
