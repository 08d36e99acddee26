# Student copy generated from autograder/master/hw1/source/batchnorm.py by `python -m autograder build`.
# Students: write your code in this file. Instructors: edit the master copy.
"""Batch normalization for fully connected (N, D) and convolutional (N, C, H, W) inputs.

Conventions shared by every function here (they follow the CS231n course, not torch):

- ``bn_param`` is a dict with the keys
  - ``mode``: ``'train'`` or ``'test'`` (required; any other value is a ValueError);
  - ``eps``: added to the variance inside the square root (default 1e-5);
  - ``momentum``: weight of the old running value (default 0.9);
  - ``running_mean``, ``running_var``: one value per feature/channel; when absent they
    start as zeros with the dtype and device of x.
- In train mode the batch mean and the *biased* batch variance (divide by the number of
  values, not that number minus one) normalize x, and then, for both mean and variance,
  ``running = momentum * running + (1 - momentum) * batch_stat`` is written back into
  ``bn_param``. In test mode the running statistics normalize x and are left alone.
- ``out = gamma * x_hat + beta``.
- Outputs have the dtype and device of x (float64 in, float64 out); x, gamma, beta and dout
  are never modified; ``cache`` can be anything your backward needs.
- The batch may hold a single example or image (N = 1).
- Forbidden anywhere in this file: the normalization family by any route
  (torch.nn.functional.batch_norm, torch.batch_norm, nn.BatchNorm* and the other nn.*Norm*
  modules, the batch/group/layer/instance norm operators of ATen) and autograd in the
  forward or the backward (Tensor.backward, torch.autograd.*, torch.func / functorch).
  Allowed: elementwise and reduction operators (mean, var, var_mean, sum, ...), permute,
  reshape, loops, and numpy inside a function. A hidden test whose function uses a
  forbidden call scores 0, and the submission is flagged for review.
"""

import torch


def batchnorm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                      bn_param: dict) -> tuple[torch.Tensor, object]:
    """Forward pass of batch normalization for inputs of shape (N, D).

    Inputs:
    - x: data of shape (N, D).
    - gamma: scale of shape (D,).
    - beta: shift of shape (D,).
    - bn_param: dict as described at the top of this file; updated in place in train mode.
      Its running_mean and running_var have shape (D,).

    Returns a tuple of:
    - out: shape (N, D), same dtype and device as x.
    - cache: whatever batchnorm_backward needs.
    """
    # YOUR CODE HERE: batchnorm_forward
    raise NotImplementedError("batchnorm_forward is not implemented yet: write it in source/batchnorm.py")


def batchnorm_backward(dout: torch.Tensor, cache: object
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backward pass of batch normalization for inputs of shape (N, D).

    Inputs:
    - dout: upstream gradient of shape (N, D).
    - cache: what batchnorm_forward returned.

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, D).
    - dgamma: gradient with respect to gamma, shape (D,).
    - dbeta: gradient with respect to beta, shape (D,).
    """
    # YOUR CODE HERE: batchnorm_backward
    raise NotImplementedError("batchnorm_backward is not implemented yet: write it in source/batchnorm.py")


def spatial_batchnorm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                              bn_param: dict) -> tuple[torch.Tensor, object]:
    """Forward pass of spatial batch normalization for inputs of shape (N, C, H, W).

    Each channel has one mean and one variance, taken over the batch and over every
    spatial position (N * H * W values), so a channel is normalized the same way
    wherever it appears in the image.

    Inputs:
    - x: data of shape (N, C, H, W).
    - gamma: scale of shape (C,).
    - beta: shift of shape (C,).
    - bn_param: dict as described at the top of this file; updated in place in train mode.
      Its running_mean and running_var have shape (C,): one value per channel.

    Returns a tuple of:
    - out: shape (N, C, H, W), same dtype and device as x.
    - cache: whatever spatial_batchnorm_backward needs.

    Hint: batchnorm_forward above already does the work for (N, D) data. Move the
    channel axis last and flatten, (N, C, H, W) -> (N*H*W, C), normalize, and undo both.
    """
    # YOUR CODE HERE: spatial_batchnorm_forward
    raise NotImplementedError("spatial_batchnorm_forward is not implemented yet: write it in source/batchnorm.py")


def spatial_batchnorm_backward(dout: torch.Tensor, cache: object
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backward pass of spatial batch normalization.

    Inputs:
    - dout: upstream gradient of shape (N, C, H, W).
    - cache: what spatial_batchnorm_forward returned.

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, C, H, W).
    - dgamma: gradient with respect to gamma, shape (C,).
    - dbeta: gradient with respect to beta, shape (C,).

    Hint: if your forward went through batchnorm_forward on (N*H*W, C) data, permute and
    reshape dout the same way, call batchnorm_backward, and bring dx back to (N, C, H, W).
    """
    # YOUR CODE HERE: spatial_batchnorm_backward
    raise NotImplementedError("spatial_batchnorm_backward is not implemented yet: write it in source/batchnorm.py")
