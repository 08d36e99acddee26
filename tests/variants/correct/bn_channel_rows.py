"""Flattens to (C, N*H*W) with ``transpose(0, 1).reshape(C, -1)``: one row per channel,
statistics along dim 1, and the inverse reshape/transpose on the way out.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode", None)
    if mode == "train":
        training = True
    elif mode == "test":
        training = False
    else:
        raise ValueError("Invalid mode: " + repr(mode))
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    rows = x.transpose(0, 1).reshape(C, -1)
    if training:
        mean = rows.mean(dim=1)
        var = rows.var(dim=1, correction=0)
        zeros = torch.zeros_like(mean)
        bn_param["running_mean"] = (momentum * bn_param.get("running_mean", zeros)
                                    + (1 - momentum) * mean)
        bn_param["running_var"] = (momentum * bn_param.get("running_var", zeros)
                                   + (1 - momentum) * var)
    else:
        zeros = rows.new_zeros(C)
        mean = bn_param.get("running_mean", zeros)
        var = bn_param.get("running_var", zeros)
    std = (var + eps).sqrt().unsqueeze(1)
    rows_hat = (rows - mean.unsqueeze(1)) / std
    out_rows = gamma.unsqueeze(1) * rows_hat + beta.unsqueeze(1)
    out = out_rows.reshape(C, N, H, W).transpose(0, 1)
    return out, (rows_hat, std, gamma, (N, C, H, W))


def spatial_batchnorm_backward(dout, cache):
    rows_hat, std, gamma, (N, C, H, W) = cache
    g = dout.transpose(0, 1).reshape(C, -1)
    dbeta = g.sum(dim=1)
    dgamma = (g * rows_hat).sum(dim=1)
    gx = g * gamma.unsqueeze(1)
    d_rows = (gx - gx.mean(dim=1, keepdim=True)
              - rows_hat * (gx * rows_hat).mean(dim=1, keepdim=True)) / std
    return d_rows.reshape(C, N, H, W).transpose(0, 1), dgamma, dbeta
'''
