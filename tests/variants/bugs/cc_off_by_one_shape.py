"""Output size computed as H - kh by W - kw: the last valid window position is dropped.

The student counted how far the kernel can move instead of how many places it can sit.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "output shape (H-kh+1, W-kw+1) checked on several X and K sizes"
ORACLE = "cc_output_shape"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    H, W = X.shape
    Y = torch.zeros(H - kh, W - kw, dtype=X.dtype, device=X.device)
    for i in range(H - kh):
        for j in range(W - kw):
            Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()
    return Y
'''
