"""True convolution: the kernel is rotated by 180 degrees before sliding.

The student followed the textbook definition of convolution instead of the
cross-correlation that the assignment (and every deep-learning library) uses.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "values against F.conv2d (asymmetric kernel), worked example"
ORACLE = "cc_worked_example"
CODE = '''
def cross_corr_2d(X, K):
    K = torch.flip(K, dims=(0, 1))
    kh, kw = K.shape
    out_h, out_w = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = torch.zeros(out_h, out_w, dtype=X.dtype, device=X.device)
    for i in range(out_h):
        for j in range(out_w):
            Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()
    return Y
'''
