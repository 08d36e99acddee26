"""Writes a general helper ``_conv_like(X, K, padding=0)`` as if for a conv layer: it pads
with ``F.pad`` (a no-op for padding 0), extracts patches with ``F.unfold`` and multiplies by
the flattened kernel. ``torch.nn.functional`` is imported as ``F`` only for ``pad`` and
``unfold``; integer inputs go through float64 because ``F.unfold`` has no integer kernel.
"""

TARGET = "cross_correlation.py"
CODE = '''
import torch.nn.functional as F


def _conv_like(X, K, padding=0):
    """Like F.conv2d with one input and one output channel, stride 1, no kernel flip."""
    work = X if X.is_floating_point() else X.to(torch.float64)
    kern = K.to(dtype=work.dtype, device=work.device)
    kh, kw = kern.shape
    padded = F.pad(work, (padding, padding, padding, padding))
    out_h, out_w = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
    cols = F.unfold(padded[None, None], kernel_size=(kh, kw))  # (1, kh*kw, out_h*out_w)
    out = kern.reshape(1, -1) @ cols[0]
    return out.reshape(out_h, out_w)


def cross_corr_2d(X, K):
    Y = _conv_like(X, K, padding=0)
    if not X.is_floating_point():
        Y = Y.round()
    return Y.to(X.dtype)
'''
