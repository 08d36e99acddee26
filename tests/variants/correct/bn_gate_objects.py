"""Builds the vanilla (N, D) forward from small layer objects (centre, scale by 1/std, affine),
each with ``forward`` and ``backward`` methods as in CS231n's layer modules; the cache is the
list of gates and the backward walks it in reverse with ``grad = gate.backward(grad)``. The
spatial functions go through permute/reshape.
"""

TARGET = "batchnorm.py"
CODE = '''
class _Center:
    def __init__(self, mean=None):
        self.mean = mean  # None: use (and differentiate through) the batch mean

    def forward(self, x):
        self.batch = self.mean is None
        self.mean = x.mean(dim=0) if self.batch else self.mean
        return x - self.mean

    def backward(self, dout):
        return dout - dout.mean(dim=0) if self.batch else dout


class _Scale:
    def __init__(self, eps, var=None):
        self.eps, self.var = eps, var

    def forward(self, xc):
        self.batch = self.var is None
        self.xc = xc
        self.var = (xc * xc).mean(dim=0) if self.batch else self.var
        self.inv = 1.0 / torch.sqrt(self.var + self.eps)
        return xc * self.inv

    def backward(self, dout):
        if not self.batch:
            return dout * self.inv
        n = dout.shape[0]
        return dout * self.inv - self.xc * self.inv ** 3 * (dout * self.xc).sum(dim=0) / n


class _Affine:
    def __init__(self, gamma, beta):
        self.gamma, self.beta = gamma, beta

    def forward(self, h):
        self.h = h
        return self.gamma * h + self.beta

    def backward(self, dout):
        self.dgamma = (dout * self.h).sum(dim=0)
        self.dbeta = dout.sum(dim=0)
        return dout * self.gamma


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError("Invalid forward batchnorm mode %s" % mode)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    rm = bn_param.get("running_mean", torch.zeros(D, dtype=x.dtype, device=x.device))
    rv = bn_param.get("running_var", torch.zeros(D, dtype=x.dtype, device=x.device))
    if mode == "train":
        gates = [_Center(), _Scale(eps), _Affine(gamma, beta)]
    else:
        gates = [_Center(rm), _Scale(eps, rv), _Affine(gamma, beta)]
    out = x
    for gate in gates:
        out = gate.forward(out)
    if mode == "train":
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * gates[0].mean
        bn_param["running_var"] = momentum * rv + (1 - momentum) * gates[1].var
    return out, gates


def batchnorm_backward(dout, cache):
    grad = dout
    for gate in reversed(cache):
        grad = gate.backward(grad)
    affine = cache[-1]
    return grad, affine.dgamma, affine.dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, gates = batchnorm_forward(x.permute(0, 2, 3, 1).reshape(-1, C), gamma, beta, bn_param)
    return out.reshape(N, H, W, C).permute(0, 3, 1, 2), (gates, N, C, H, W)


def spatial_batchnorm_backward(dout, cache):
    gates, N, C, H, W = cache
    dx, dgamma, dbeta = batchnorm_backward(dout.permute(0, 2, 3, 1).reshape(-1, C), gates)
    return dx.reshape(N, H, W, C).permute(0, 3, 1, 2), dgamma, dbeta
'''
