"""Careful about autograd: detaches the inputs and works inside ``with torch.no_grad():``
(a comment says it does not want autograd to record the windows), then ``unfold`` twice and
``einsum``.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    # No autograd needed here: detach and skip recording the graph for the big window view.
    with torch.no_grad():
        x = X.detach()
        k = K.detach().to(x.dtype)
        kh, kw = k.shape
        windows = x.unfold(0, kh, 1).unfold(1, kw, 1)  # (oh, ow, kh, kw)
        out = torch.einsum("ijkl,kl->ij", windows, k)
    return out
'''
