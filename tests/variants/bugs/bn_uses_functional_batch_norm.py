"""Forward pass hands the normalization to torch.nn.functional.batch_norm (forbidden).

The running statistics are updated by hand with the right convention and the backward is
analytic, so every number is correct: only the forbidden-call check can take points.
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "forbidden-call detection (torch.nn.functional.batch_norm in the forward)"
ORACLE = "spatial_batchnorm_forbidden"
FORBIDDEN_TESTS = ("bn_forward_values", "bn_forward_eps", "bn_forward_shape_dtype",
                   "bn_running_stats_one_step", "bn_running_stats_two_steps", "bn_test_mode",
                   "bn_batch_size_one")
CODE = '''
import torch.nn.functional as F


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError("unknown mode")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    running_mean = bn_param.get("running_mean", x.new_zeros(C))
    running_var = bn_param.get("running_var", x.new_zeros(C))
    if mode == "train":
        var, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean, running_var
    out = F.batch_norm(x, mean, var, gamma, beta, training=False, eps=eps)
    x_hat = (x - mean.view(1, C, 1, 1)) / torch.sqrt(var + eps).view(1, C, 1, 1)
    return out, (x_hat, gamma, torch.sqrt(var + eps))


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    dims, shape = (0, 2, 3), (1, -1, 1, 1)
    dbeta = dout.sum(dim=dims)
    dgamma = (dout * x_hat).sum(dim=dims)
    g = dout * gamma.view(shape)
    dx = (g - g.mean(dim=dims, keepdim=True)
          - x_hat * (g * x_hat).mean(dim=dims, keepdim=True)) / std.view(shape)
    return dx, dgamma, dbeta
'''
