"""Loops over the kernel's entries and adds ``K[a, b]`` times a shifted slice of X to the
output in place (``Y += ...``); Y is the student's own tensor from ``X.new_zeros``.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    oh, ow = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = X.new_zeros(oh, ow)
    for a in range(kh):
        for b in range(kw):
            Y += K[a, b] * X[a:a + oh, b:b + ow]
    return Y
'''
