"""Wraps both passes in ``with torch.no_grad():`` and works on ``x.detach()``, with comments and
an error message that mention autograd and ``torch.nn.functional.batch_norm``; the backward
collects its results in a local ``grads`` tuple.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Spatial batch norm by hand. No autograd: the backward below is derived on paper."""
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test' (there is no 'training' "
                         f"flag as in torch.nn.functional.batch_norm), got {mode!r}")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    dims = (0, 2, 3)
    with torch.no_grad():  # keep autograd out of it: nothing here needs a graph
        xd = x.detach()
        if mode == "train":
            mean = xd.mean(dim=dims)
            var = (xd - mean.view(1, C, 1, 1)).pow(2).mean(dim=dims)
            zeros = torch.zeros(C, dtype=x.dtype, device=x.device)
            bn_param["running_mean"] = (momentum * bn_param.get("running_mean", zeros)
                                        + (1 - momentum) * mean)
            bn_param["running_var"] = (momentum * bn_param.get("running_var", zeros)
                                       + (1 - momentum) * var)
        else:
            zeros = torch.zeros(C, dtype=x.dtype, device=x.device)
            mean = bn_param.get("running_mean", zeros)
            var = bn_param.get("running_var", zeros)
        inv_std = 1.0 / torch.sqrt(var + eps)
        x_hat = (xd - mean.view(1, C, 1, 1)) * inv_std.view(1, C, 1, 1)
        out = gamma.detach().view(1, C, 1, 1) * x_hat + beta.detach().view(1, C, 1, 1)
    return out, (x_hat, gamma.detach(), inv_std, mode == "train")


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std, training = cache
    C = dout.shape[1]
    dims = (0, 2, 3)
    with torch.no_grad():
        d = dout.detach()
        dbeta = d.sum(dim=dims)
        dgamma = (d * x_hat).sum(dim=dims)
        scale = (gamma * inv_std).view(1, C, 1, 1)
        if training:
            dx = scale * (d - d.mean(dim=dims, keepdim=True)
                          - x_hat * (d * x_hat).mean(dim=dims, keepdim=True))
        else:
            dx = scale * d
        grads = (dx, dgamma, dbeta)
    return grads
'''
