"""Defensive copying: works on ``X.detach().clone()`` (so nothing can touch the caller's X),
fills ``torch.empty_like`` of the top-left corner of that copy pixel by pixel with
``(window * K).sum()``.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    x = X.detach().clone()
    k = K.detach().clone().to(x.dtype)
    kh, kw = k.shape
    oh, ow = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    Y = torch.empty_like(x[:oh, :ow])
    for i in range(oh):
        for j in range(ow):
            Y[i, j] = (x[i:i + kh, j:j + kw] * k).sum()
    return Y
'''
