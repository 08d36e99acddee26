"""One channel at a time in a Python loop: slow, but each step is plain 1-D arithmetic."""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"] if "mode" in bn_param else None
    if mode != "train" and mode != "test":
        raise ValueError("bn_param['mode'] has to be 'train' or 'test'")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    old_mean = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
    old_var = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
    new_mean, new_var = old_mean.clone(), old_var.clone()
    out = torch.empty_like(x)
    x_hats, stds = [], []
    for c in range(C):
        values = x[:, c]
        if mode == "train":
            mean = values.mean()
            var = ((values - mean) ** 2).mean()
            new_mean[c] = momentum * old_mean[c] + (1 - momentum) * mean
            new_var[c] = momentum * old_var[c] + (1 - momentum) * var
        else:
            mean, var = old_mean[c], old_var[c]
        std = torch.sqrt(var + eps)
        x_hat = (values - mean) / std
        out[:, c] = gamma[c] * x_hat + beta[c]
        x_hats.append(x_hat)
        stds.append(std)
    if mode == "train":
        bn_param["running_mean"], bn_param["running_var"] = new_mean, new_var
    return out, (x_hats, stds, gamma)


def spatial_batchnorm_backward(dout, cache):
    x_hats, stds, gamma = cache
    C = dout.shape[1]
    dx = torch.empty_like(dout)
    dgamma = torch.empty(C, dtype=dout.dtype, device=dout.device)
    dbeta = torch.empty(C, dtype=dout.dtype, device=dout.device)
    for c in range(C):
        g, x_hat = dout[:, c], x_hats[c]
        dbeta[c] = g.sum()
        dgamma[c] = (g * x_hat).sum()
        dx[:, c] = gamma[c] / stds[c] * (g - g.mean() - x_hat * (g * x_hat).mean())
    return dx, dgamma, dbeta
'''
