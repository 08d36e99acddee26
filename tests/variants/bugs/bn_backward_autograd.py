"""Backward pass recomputes the forward with requires_grad and calls torch.autograd.grad.

Gradients are exact, but the assignment asks for the analytic backward: forbidden.
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "forbidden-call detection (torch.autograd inside the backward)"
ORACLE = "spatial_batchnorm_forbidden"
FORBIDDEN_TESTS = ("bn_backward_dx", "bn_backward_dgamma_dbeta", "bn_backward_shape_dtype")
CODE = '''
def _normalize(x, gamma, beta, eps):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + eps)
    return gamma.view(1, -1, 1, 1) * x_hat + beta.view(1, -1, 1, 1), mean, var


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(f"bad mode {mode}")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    running_mean = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
    running_var = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
    if mode == "test":
        std = torch.sqrt(running_var + eps).view(1, -1, 1, 1)
        x_hat = (x - running_mean.view(1, -1, 1, 1)) / std
        return gamma.view(1, -1, 1, 1) * x_hat + beta.view(1, -1, 1, 1), None
    out, mean, var = _normalize(x, gamma, beta, eps)
    bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean.view(C)
    bn_param["running_var"] = momentum * running_var + (1 - momentum) * var.view(C)
    return out, (x, gamma, beta, eps)


def spatial_batchnorm_backward(dout, cache):
    x, gamma, beta, eps = cache
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, gamma, beta)]
    with torch.enable_grad():
        out, _, _ = _normalize(*leaves, eps)
        dx, dgamma, dbeta = torch.autograd.grad(out, leaves, dout)
    return dx, dgamma, dbeta
'''
