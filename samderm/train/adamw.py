"""AdamW on one flat buffer: a head's parameters and gradients become views of two vectors,
so a step is a handful of vector operations instead of torch.optim's per-step Python work
(and its first use importing torch._dynamo, seconds per training process)."""

from __future__ import annotations

from typing import Iterable

import torch

# the fused AdamW kernel of torch.optim (CPU since torch 2.4); the vector ops below where absent
_FUSED = getattr(torch, "_fused_adamw_", None)


class FlatAdamW:
    """AdamW (Loshchilov & Hutter 2019, decoupled weight decay) with torch.optim.AdamW's update
    (amsgrad off): p <- p (1 - lr wd); m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay, self.betas, self.eps = float(lr), float(weight_decay), betas, float(eps)
        with torch.no_grad():
            self.flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.grad = torch.zeros_like(self.flat)
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self._denom = torch.empty_like(self.flat)
        self.steps = 0
        self._step = torch.zeros((), dtype=torch.float32, device=self.flat.device)
        offset = 0
        for p in self.params:
            n = p.numel()
            p.data = self.flat[offset:offset + n].view_as(p)
            # an existing .grad is accumulated into in place by backward: the gradients land in self.grad
            p.grad = self.grad[offset:offset + n].view_as(p)
            offset += n

    def zero_grad(self) -> None:
        self.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        self._step.fill_(self.steps)
        if _FUSED is not None:
            # torch.optim.AdamW(fused=True)'s kernel: the update above in one pass over the vector
            _FUSED([self.flat], [self.grad], [self.exp_avg], [self.exp_avg_sq], [], [self._step], lr=self.lr,
                   beta1=self.betas[0], beta2=self.betas[1], weight_decay=self.weight_decay, eps=self.eps,
                   amsgrad=False, maximize=False)
        else:
            self.vector_step()

    @torch.no_grad()
    def vector_step(self) -> None:
        """The update as torch.optim.AdamW's single-tensor path writes it (``steps`` already counted)."""
        beta1, beta2 = self.betas
        self.flat.mul_(1.0 - self.lr * self.weight_decay)
        self.exp_avg.lerp_(self.grad, 1.0 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.grad, self.grad, value=1.0 - beta2)
        bias_correction1 = 1.0 - beta1 ** self.steps
        bias_correction2 = 1.0 - beta2 ** self.steps
        torch.sqrt(self.exp_avg_sq, out=self._denom)
        self._denom.div_(bias_correction2 ** 0.5).add_(self.eps)
        self.flat.addcdiv_(self.exp_avg, self._denom, value=-self.lr / bias_correction1)

    def release(self) -> None:
        """Give every parameter its own storage again and drop the gradient views."""
        for p in self.params:
            p.data = p.data.clone()
            p.grad = None
