"""Uses X.shape[0] for both output dimensions: only right for square images.

``n = X.shape[0]`` then an (n - kh + 1) by (n - kw + 1) output.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "output shape with a non-square X"
ORACLE = "cc_output_shape"
CODE = '''
def cross_corr_2d(X, K):
    n = X.shape[0]
    kh, kw = K.shape
    Y = torch.zeros(n - kh + 1, n - kw + 1, dtype=X.dtype, device=X.device)
    for i in range(n - kh + 1):
        for j in range(n - kw + 1):
            Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()
    return Y
'''
