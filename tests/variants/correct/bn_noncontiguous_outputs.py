"""Works in channels-last layout and returns the results as views: ``out`` and ``dx`` are
permuted (non-contiguous) views, and dgamma/dbeta are strided columns of one (C, 2) tensor.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in {"train", "test"}:
        raise ValueError(mode)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    x_last = x.permute(0, 2, 3, 1)  # (N, H, W, C) view
    C = x.shape[1]
    if mode == "train":
        mean = x_last.mean(dim=(0, 1, 2))
        var = (x_last - mean).square().mean(dim=(0, 1, 2))
        for key, stat in (("running_mean", mean), ("running_var", var)):
            old = bn_param.get(key, torch.zeros(C, dtype=x.dtype, device=x.device))
            bn_param[key] = momentum * old + (1 - momentum) * stat
    else:
        zeros = torch.zeros(C, dtype=x.dtype, device=x.device)
        mean = bn_param.get("running_mean", zeros)
        var = bn_param.get("running_var", zeros)
    inv_std = 1 / (var + eps).sqrt()
    x_hat = (x_last - mean) * inv_std
    out_last = torch.addcmul(beta.expand_as(x_hat), x_hat, gamma.expand_as(x_hat))
    return out_last.permute(0, 3, 1, 2), (x_hat, gamma, inv_std)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    g = dout.permute(0, 2, 3, 1)
    m = g.numel() // g.shape[-1]
    sums = torch.stack([(g * x_hat).sum(dim=(0, 1, 2)), g.sum(dim=(0, 1, 2))], dim=1)
    dgamma, dbeta = sums[:, 0], sums[:, 1]
    dx_last = (gamma * inv_std / m) * (m * g - dbeta - x_hat * dgamma)
    return dx_last.permute(0, 3, 1, 2), dgamma, dbeta
'''
