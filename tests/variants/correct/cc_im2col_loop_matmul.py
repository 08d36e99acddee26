"""im2col by hand: a loop fills a (out_h*out_w, kh*kw) matrix with flattened windows, then
one matrix-vector product with the flattened kernel.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    H, W = X.shape
    kh, kw = K.shape
    oh, ow = H - kh + 1, W - kw + 1
    cols = torch.empty(oh * ow, kh * kw, dtype=X.dtype, device=X.device)
    r = 0
    for i in range(oh):
        for j in range(ow):
            cols[r] = X[i:i + kh, j:j + kw].reshape(-1)
            r += 1
    return torch.matmul(cols, K.reshape(-1).to(X.dtype)).view(oh, ow)
'''
