"""Gaussian diffusion (DDPM/DDIM) over any tensor shape, shared by the diffusion-based objectives (MacDiff).

Noise schedules are pure functions chosen by name from :data:`NOISE_SCHEDULES` (:func:`make_betas`): ``linear``
gives its betas directly, ``cosine`` and ``inverse_cosine`` are continuous ``alpha_bar(s)``, ``s in [0, 1]``,
discretised by :func:`betas_for_alpha_bar`. :class:`GaussianDiffusion` precomputes every per-step coefficient once
as a buffer and reads it through :func:`extract`; the methods are named after the maths of Ho et al. 2020 (DDPM) and
Song et al. 2021 (DDIM)::

    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps                      q_sample
    x_0 = sqrt(1 / abar_t) x_t - sqrt(1 / abar_t - 1) eps              predict_start_from_noise
    q(x_{t-1} | x_t, x_0) = N(c1_t x_0 + c2_t x_t, beta~_t)            q_posterior

A denoiser is any callable ``model(x_t, t) -> eps_hat`` with ``x_t`` of the data's shape ``(B, ...)`` and integer
steps ``t`` ``(B,)`` in ``[0, T)``; step 0 is the first noising step (one step away from the data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelrec.registry import Registry

__all__ = [
    "NOISE_SCHEDULES",
    "Denoiser",
    "GaussianDiffusion",
    "betas_for_alpha_bar",
    "classifier_free_guidance",
    "cosine_alpha_bar",
    "cosine_betas",
    "extract",
    "inverse_cosine_alpha_bar",
    "inverse_cosine_betas",
    "linear_betas",
    "make_betas",
    "sampling_timesteps",
    "timestep_embedding",
]

Denoiser = Callable[[Tensor, Tensor], Tensor]
"""``model(x_t (B, ...), t (B,) int64) -> predicted noise (B, ...)``."""

COSINE_OFFSET = 0.008
"""``s`` of the cosine schedule (Nichol & Dhariwal 2021): keeps ``beta_0`` from vanishing."""


# ------------------------------------------------------------------------------------------------------------------
# Schedules: pure functions.
# ------------------------------------------------------------------------------------------------------------------


def cosine_alpha_bar(s: Tensor) -> Tensor:
    """Improved-DDPM cosine schedule ``abar(s) = cos^2(((s + 0.008) / 1.008) pi / 2)`` (Nichol & Dhariwal, eq. 17)."""
    return torch.cos((s + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2


def inverse_cosine_alpha_bar(s: Tensor, tau: float = 1.0) -> Tensor:
    """MacDiff's schedule: ``abar(s) = (1 + tau) c0 (1 - s) - tau cos^2(((s + 0.008) / 1.008) pi / 2)``.

    ``c0 = cos^2((0.008 / 1.008) pi / 2) = abar_cosine(0)``; ``tau = 0`` is linear in ``s``, ``tau = 1`` (the paper)
    spends more steps at high noise than the cosine schedule (``Wenrui-Shen/MacDiff@692888f``
    ``guided_diffusion/gaussian_diffusion.py``).
    """
    c0 = cosine_alpha_bar(torch.zeros((), dtype=s.dtype))
    return (1 + tau) * c0 * (1 - s) - tau * cosine_alpha_bar(s)


def betas_for_alpha_bar(steps: int, alpha_bar: Callable[[Tensor], Tensor], max_beta: float = 0.999) -> Tensor:
    """``beta_i = min(1 - abar((i + 1) / T) / abar(i / T), max_beta)`` for ``i < T``: ``(T,)`` float64.

    The cumulative product of ``1 - beta`` is then ``abar((i + 1) / T) / abar(0)`` wherever no beta is clipped.
    """
    s = torch.arange(steps + 1, dtype=torch.float64) / steps
    abar = alpha_bar(s)
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


def linear_betas(steps: int) -> Tensor:
    """Ho et al.'s linear betas ``1e-4 -> 0.02`` for 1000 steps, rescaled by ``1000 / T`` for other lengths."""
    scale = 1000 / steps
    return torch.linspace(scale * 1e-4, scale * 0.02, steps, dtype=torch.float64)


def cosine_betas(steps: int) -> Tensor:
    """Betas of :func:`cosine_alpha_bar`."""
    return betas_for_alpha_bar(steps, cosine_alpha_bar)


def inverse_cosine_betas(steps: int, tau: float = 1.0) -> Tensor:
    """Betas of :func:`inverse_cosine_alpha_bar` (MacDiff: ``tau = 1``)."""
    return betas_for_alpha_bar(steps, partial(inverse_cosine_alpha_bar, tau=tau))


NOISE_SCHEDULES: Registry[Callable[..., Tensor]] = Registry(
    "noise schedule", {"linear": linear_betas, "cosine": cosine_betas, "inverse_cosine": inverse_cosine_betas}
)
"""``schedule(steps, **params) -> (steps,)`` float64 betas, by name."""


def make_betas(name: str, steps: int, **params: float) -> Tensor:
    """The ``(steps,)`` float64 betas of the :data:`NOISE_SCHEDULES` entry ``name`` with its ``params``.

    Raises:
        SkelrecError: unknown ``name``.
        ValueError: ``steps < 1`` or parameters the schedule does not take.
    """
    schedule = NOISE_SCHEDULES[name]
    if steps < 1:
        raise ValueError(f"a diffusion needs at least 1 step, got {steps}")
    try:
        return schedule(steps, **params)
    except TypeError as e:
        raise ValueError(f"bad parameters {sorted(params)} for noise schedule {name!r} ({e})") from None


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding ``(B,) -> (B, dim)``: ``[cos(t f_k), sin(t f_k)]``, ``f_k = max_period^(-k / (dim/2))``.

    The transformer position encoding applied to (possibly fractional) diffusion steps (DDPM, guided-diffusion);
    an odd ``dim`` gets a trailing zero.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def sampling_timesteps(total: int, steps: int) -> Tensor:
    """``steps`` distinct steps of ``[0, total)``, evenly spaced, descending, from ``total - 1`` down to ``0``."""
    if not 1 <= steps <= total:
        raise ValueError(f"sampling steps must be in [1, {total}], got {steps}")
    return torch.linspace(total - 1, 0, steps, dtype=torch.float64).round().long().unique_consecutive()


def extract(buffer: Tensor, t: Tensor, shape: Sequence[int]) -> Tensor:
    """``buffer[t]`` for a batch of steps ``t`` ``(B,)``, shaped ``(B, 1, ..., 1)`` to broadcast against ``shape``."""
    return buffer.gather(0, t).reshape(t.shape[0], *(1,) * (len(shape) - 1))


def classifier_free_guidance(cond: Denoiser, uncond: Denoiser, scale: float) -> Denoiser:
    """Guided denoiser ``eps_c + scale (eps_c - eps_u)`` (Ho & Salimans 2021, as MacDiff's sampler writes it)."""

    def guided(x_t: Tensor, t: Tensor) -> Tensor:
        eps_c = cond(x_t, t)
        return eps_c + scale * (eps_c - uncond(x_t, t))

    return guided


# ------------------------------------------------------------------------------------------------------------------
# The process.
# ------------------------------------------------------------------------------------------------------------------


class GaussianDiffusion(nn.Module):
    """A fixed-variance Gaussian diffusion of ``T`` steps with an epsilon-predicting denoiser.

    Args:
        betas: ``(T,)`` noise variances (e.g. from :func:`make_betas`), each in ``(0, 1]``.
        variance: the reverse-step variance of :meth:`p_sample`: ``"small"`` = the posterior ``beta~_t``,
            ``"large"`` = ``beta_t`` (``beta~_1`` at the first step); Ho et al. found both equivalent in quality.

    Buffers (float32, not saved in state dicts: the schedule is rebuilt from the config) hold ``abar_t`` and every
    coefficient below, computed in float64.
    """

    def __init__(self, betas: Tensor, *, variance: Literal["small", "large"] = "large") -> None:
        super().__init__()
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.dim() != 1 or not bool(((betas > 0) & (betas <= 1)).all()):
            raise ValueError("betas must be a 1-D tensor of values in (0, 1]")
        if variance not in ("small", "large"):
            raise ValueError(f"variance must be 'small' or 'large', got {variance!r}")
        self.num_timesteps = betas.shape[0]
        self.variance = variance
        abar = torch.cumprod(1 - betas, dim=0)
        abar_prev = F.pad(abar[:-1], (1, 0), value=1.0)
        posterior_var = betas * (1 - abar_prev) / (1 - abar)
        reg = partial(self.register_buffer, persistent=False)
        reg("betas", betas.float())
        reg("alphas_cumprod", abar.float())
        reg("alphas_cumprod_prev", abar_prev.float())
        reg("sqrt_alphas_cumprod", abar.sqrt().float())
        reg("sqrt_one_minus_alphas_cumprod", (1 - abar).sqrt().float())
        reg("sqrt_recip_alphas_cumprod", abar.rsqrt().float())
        reg("sqrt_recipm1_alphas_cumprod", (1 / abar - 1).sqrt().float())
        reg("posterior_variance", posterior_var.float())
        # log beta~ with beta~_0 = 0 replaced by beta~_1 (guided-diffusion), and the "large" choice beta_t
        reg("posterior_log_variance_clipped", torch.cat([posterior_var[1:2], posterior_var[1:]]).log().float())
        reg("log_betas_large", torch.cat([posterior_var[1:2], betas[1:]]).log().float())
        reg("posterior_mean_coef1", (betas * abar_prev.sqrt() / (1 - abar)).float())
        reg("posterior_mean_coef2", ((1 - abar_prev) * (1 - betas).sqrt() / (1 - abar)).float())

    @classmethod
    def from_schedule(
        cls, name: str, steps: int = 1000, *, variance: Literal["small", "large"] = "large", **params: float
    ) -> GaussianDiffusion:
        """The diffusion of the named schedule (:func:`make_betas`)."""
        return cls(make_betas(name, steps, **params), variance=variance)

    def extra_repr(self) -> str:
        return f"num_timesteps={self.num_timesteps}, variance={self.variance!r}"

    # -- training ---------------------------------------------------------------------------------------------------

    def sample_timesteps(self, batch: int, device: torch.device | str, generator: torch.Generator | None = None):
        """Uniform steps ``(batch,)`` int64 in ``[0, T)`` (MacDiff's ``UniformSampler``)."""
        return torch.randint(0, self.num_timesteps, (batch,), device=device, generator=generator)

    def q_sample(self, x_start: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` (DDPM eq. 4), shapes ``(B, ...)``."""
        return (
            extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
            + extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise
        )

    def p_losses(
        self,
        model: Denoiser,
        x_start: Tensor,
        t: Tensor,
        *,
        noise: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        """Per-sample epsilon-prediction loss ``(B,)``: the ``weight``-weighted mean of ``(eps_hat - eps)^2``.

        Args:
            model: the denoiser, called once on ``x_t = q_sample(x_start, t, noise)``.
            x_start: clean data ``(B, ...)``.
            t: steps ``(B,)``.
            noise: the ``eps`` to add (standard normal by default).
            weight: ``(B, ...)`` (broadcastable) non-negative weights, e.g. a mask of the elements that count;
                a sample with zero total weight has loss 0. ``None`` weighs every element equally.
        """
        noise = torch.randn_like(x_start) if noise is None else noise
        err = (model(self.q_sample(x_start, t, noise), t) - noise) ** 2
        if weight is None:
            return err.flatten(1).mean(dim=1)
        weight = weight.to(err.dtype).expand_as(err)
        return (err * weight).flatten(1).sum(dim=1) / weight.flatten(1).sum(dim=1).clamp_min(1e-12)

    # -- reverse process --------------------------------------------------------------------------------------------

    def predict_start_from_noise(self, x_t: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """``x_0 = sqrt(1 / abar_t) x_t - sqrt(1 / abar_t - 1) eps`` (DDPM eq. 4 solved for ``x_0``)."""
        return (
            extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t
            - extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape) * noise
        )

    def predict_noise_from_start(self, x_t: Tensor, t: Tensor, x_start: Tensor) -> Tensor:
        """``eps = (sqrt(1 / abar_t) x_t - x_0) / sqrt(1 / abar_t - 1)``."""
        return (extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - x_start) / extract(
            self.sqrt_recipm1_alphas_cumprod, t, x_t.shape
        )

    def q_posterior(self, x_start: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of ``q(x_{t-1} | x_t, x_0)`` (DDPM eq. 6-7)."""
        mean = (
            extract(self.posterior_mean_coef1, t, x_t.shape) * x_start
            + extract(self.posterior_mean_coef2, t, x_t.shape) * x_t
        )
        return mean, extract(self.posterior_log_variance_clipped, t, x_t.shape)

    def _predict_start(self, model: Denoiser, x_t: Tensor, t: Tensor, clip: float | None) -> tuple[Tensor, Tensor]:
        """``(x_0, eps)`` predicted at ``(x_t, t)``; ``clip`` clamps ``x_0`` to ``±clip`` and ``eps`` is re-derived."""
        eps = model(x_t, t)
        x_start = self.predict_start_from_noise(x_t, t, eps)
        if clip is not None:
            x_start = x_start.clamp(-clip, clip)
            eps = self.predict_noise_from_start(x_t, t, x_start)
        return x_start, eps

    def p_mean_variance(
        self, model: Denoiser, x_t: Tensor, t: Tensor, *, clip: float | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(mean, log_variance, x_0)`` of the model's reverse step ``p(x_{t-1} | x_t)``."""
        x_start, _ = self._predict_start(model, x_t, t, clip)
        mean, log_var = self.q_posterior(x_start, x_t, t)
        if self.variance == "large":
            log_var = extract(self.log_betas_large, t, x_t.shape)
        return mean, log_var, x_start

    def p_sample(
        self,
        model: Denoiser,
        x_t: Tensor,
        t: Tensor,
        *,
        clip: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """One ancestral DDPM step ``x_t -> x_{t-1}`` (no noise at ``t = 0``)."""
        mean, log_var, _ = self.p_mean_variance(model, x_t, t, clip=clip)
        noise = _randn_like(x_t, generator)
        nonzero = (t != 0).to(x_t.dtype).reshape(-1, *(1,) * (x_t.dim() - 1))
        return mean + nonzero * (0.5 * log_var).exp() * noise

    def ddim_step(
        self,
        model: Denoiser,
        x_t: Tensor,
        t: Tensor,
        t_prev: Tensor,
        *,
        eta: float = 0.0,
        clip: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """DDIM step ``x_t -> x_{t_prev}`` (Song et al. eq. 12); ``t_prev = -1`` lands on the data (``abar = 1``).

        ``x_prev = sqrt(abar_prev) x_0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z`` with
        ``sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev)``; ``eta = 0`` is
        deterministic, ``eta = 1`` with ``t_prev = t - 1`` is the DDPM step with ``variance="small"``.
        """
        x_start, eps = self._predict_start(model, x_t, t, clip)
        abar = extract(self.alphas_cumprod, t, x_t.shape)
        abar_prev = torch.where(t_prev >= 0, self.alphas_cumprod.gather(0, t_prev.clamp_min(0)), 1.0)
        abar_prev = abar_prev.reshape(abar.shape)
        sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).clamp_min(0).sqrt()
        mean = abar_prev.sqrt() * x_start + (1 - abar_prev - sigma**2).clamp_min(0).sqrt() * eps
        if eta == 0:
            return mean
        return mean + sigma * _randn_like(x_t, generator)

    @torch.no_grad()
    def ddpm_sample(
        self,
        model: Denoiser,
        shape: Sequence[int],
        *,
        noise: Tensor | None = None,
        clip: float | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Ancestral sampling through all ``T`` steps from ``x_T = noise`` (standard normal by default)."""
        x = self._start(shape, noise, device, generator)
        for step in range(self.num_timesteps - 1, -1, -1):
            t = torch.full((x.shape[0],), step, device=x.device, dtype=torch.long)
            x = self.p_sample(model, x, t, clip=clip, generator=generator)
        return x

    @torch.no_grad()
    def ddim_sample(
        self,
        model: Denoiser,
        shape: Sequence[int],
        *,
        steps: int = 50,
        eta: float = 0.0,
        noise: Tensor | None = None,
        clip: float | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """DDIM sampling over ``steps`` evenly spaced steps (:func:`sampling_timesteps`) from ``x_T = noise``."""
        x = self._start(shape, noise, device, generator)
        seq = sampling_timesteps(self.num_timesteps, steps).tolist()
        for step, prev in zip(seq, [*seq[1:], -1], strict=True):
            t = torch.full((x.shape[0],), step, device=x.device, dtype=torch.long)
            t_prev = torch.full_like(t, prev)
            x = self.ddim_step(model, x, t, t_prev, eta=eta, clip=clip, generator=generator)
        return x

    def sample(
        self,
        model: Denoiser,
        shape: Sequence[int],
        *,
        steps: int | None = None,
        ddim: bool = True,
        eta: float = 0.0,
        noise: Tensor | None = None,
        clip: float | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Draw ``x_0`` of ``shape``: DDIM with ``steps`` (default 50) or, with ``ddim=False``, ancestral DDPM (all
        ``T`` steps; ``steps`` must then be ``None`` or ``T``)."""
        if ddim:
            return self.ddim_sample(
                model, shape, steps=steps or 50, eta=eta, noise=noise, clip=clip, device=device, generator=generator
            )
        if steps not in (None, self.num_timesteps):
            raise ValueError(f"DDPM sampling runs all {self.num_timesteps} steps; use ddim=True for steps={steps}")
        return self.ddpm_sample(model, shape, noise=noise, clip=clip, device=device, generator=generator)

    def _start(
        self,
        shape: Sequence[int],
        noise: Tensor | None,
        device: torch.device | str | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        if noise is not None:
            if tuple(noise.shape) != tuple(shape):
                raise ValueError(f"noise has shape {tuple(noise.shape)}, expected {tuple(shape)}")
            return noise
        device = device if device is not None else self.betas.device
        return torch.randn(*shape, device=device, generator=generator)


def _randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
