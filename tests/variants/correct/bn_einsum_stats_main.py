"""Takes every per-channel sum with ``torch.einsum`` (``'nchw->c'``, ``'nchw,nchw->c'``) and
keeps an ``if __name__ == "__main__":`` block at the bottom that checks the backward against
the provided numerical gradient helper when the file is run as a script.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError("mode has to be train or test")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    m = N * H * W
    zeros = torch.zeros(C, dtype=x.dtype, device=x.device)
    if mode == "train":
        mean = torch.einsum("nchw->c", x) / m
        xc = x - mean[None, :, None, None]
        var = torch.einsum("nchw,nchw->c", xc, xc) / m
        rm, rv = bn_param.get("running_mean", zeros), bn_param.get("running_var", zeros)
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
    else:
        mean = bn_param.get("running_mean", zeros)
        var = bn_param.get("running_var", zeros)
        xc = x - mean[None, :, None, None]
    inv_std = torch.rsqrt(var + eps)
    x_hat = xc * inv_std[None, :, None, None]
    out = torch.einsum("nchw,c->nchw", x_hat, gamma) + beta[None, :, None, None]
    return out, (x_hat, gamma, inv_std, m, mode)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std, m, mode = cache
    dbeta = torch.einsum("nchw->c", dout)
    dgamma = torch.einsum("nchw,nchw->c", dout, x_hat)
    k = (gamma * inv_std)[None, :, None, None]
    if mode == "test":
        return k * dout, dgamma, dbeta
    grad = dout - (dbeta / m)[None, :, None, None] - x_hat * (dgamma / m)[None, :, None, None]
    return k * grad, dgamma, dbeta


if __name__ == "__main__":
    from gradcheck import eval_numerical_gradient_array, rel_error

    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    g, b = torch.rand(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    dout = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    out, cache = spatial_batchnorm_forward(x, g, b, {"mode": "train"})
    dx, dg, db = spatial_batchnorm_backward(dout, cache)
    fx = lambda t: spatial_batchnorm_forward(t, g, b, {"mode": "train"})[0]
    print("dx error:", rel_error(dx, eval_numerical_gradient_array(fx, x.clone(), dout)))
'''
