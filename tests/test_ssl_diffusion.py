"""skelrec.ssl.diffusion: schedules against hand-computed values, the forward process, DDPM/DDIM sampling."""

from __future__ import annotations

import math

import pytest
import torch

from skelrec.errors import SkelrecError
from skelrec.ssl.diffusion import (
    NOISE_SCHEDULES,
    GaussianDiffusion,
    betas_for_alpha_bar,
    classifier_free_guidance,
    cosine_alpha_bar,
    extract,
    inverse_cosine_alpha_bar,
    make_betas,
    sampling_timesteps,
    timestep_embedding,
)

C0 = math.cos(0.008 / 1.008 * math.pi / 2) ** 2


def inverse_cosine_by_hand(s: float, tau: float) -> float:
    return (1 + tau) * C0 * (1 - s) - tau * math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2


# ----------------------------------------------------------------------------------------------------------------
# Schedules.
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
def test_inverse_cosine_alpha_bar_matches_formula(tau):
    s = torch.tensor([0.0, 0.1, 0.25, 0.5, 0.9, 1.0], dtype=torch.float64)
    got = inverse_cosine_alpha_bar(s, tau=tau)
    want = torch.tensor([inverse_cosine_by_hand(float(v), tau) for v in s], dtype=torch.float64)
    assert torch.allclose(got, want, atol=1e-12)
    assert got[0].item() == pytest.approx(C0)  # abar(0) = c0 for every tau
    assert got[-1].item() == pytest.approx(0.0, abs=1e-12)
    # tau = 0 is the straight line c0 (1 - s)
    if tau == 0.0:
        assert torch.allclose(got, C0 * (1 - s))


def test_cosine_alpha_bar_matches_formula():
    s = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    want = [math.cos((v + 0.008) / 1.008 * math.pi / 2) ** 2 for v in (0.0, 0.3, 1.0)]
    assert cosine_alpha_bar(s).tolist() == pytest.approx(want)


def test_betas_for_alpha_bar_on_a_hand_case():
    # T = 4, inverse cosine tau = 1: beta_i = min(1 - f((i+1)/4) / f(i/4), 0.999), the last one clipped (f(1) = 0)
    f = [inverse_cosine_by_hand(i / 4, 1.0) for i in range(5)]
    want = [min(1 - f[i + 1] / f[i], 0.999) for i in range(4)]
    got = make_betas("inverse_cosine", 4, tau=1.0)
    assert got.dtype == torch.float64
    assert got.tolist() == pytest.approx(want, rel=1e-12)
    assert got[-1].item() == 0.999
    assert betas_for_alpha_bar(4, lambda s: 1 - s / 2, max_beta=0.2).tolist() == pytest.approx(
        [min(1 - (1 - (i + 1) / 8) / (1 - i / 8), 0.2) for i in range(4)]
    )


def test_macdiff_schedule_alphas_cumprod():
    diffusion = GaussianDiffusion(make_betas("inverse_cosine", 1000, tau=1.0))
    abar = diffusion.alphas_cumprod.double()
    # the cumulative product telescopes to f((i + 1) / T) / f(0) until the clipped last step
    want = torch.tensor([inverse_cosine_by_hand((i + 1) / 1000, 1.0) / C0 for i in range(999)], dtype=torch.float64)
    assert torch.allclose(abar[:999], want, atol=1e-5)
    assert abar[0].item() > 0.99  # abar(0) ~ 1
    assert bool((abar[1:] < abar[:-1]).all())  # strictly decreasing
    assert abar[-1].item() < 1e-5
    betas = diffusion.betas
    assert bool(((betas > 0) & (betas <= 0.999)).all())
    # more noise early than the cosine schedule at the same step (the point of the inverse cosine)
    cosine = GaussianDiffusion(make_betas("cosine", 1000)).alphas_cumprod
    assert abar[250].item() < cosine[250].item()


def test_linear_schedule():
    betas = make_betas("linear", 1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    assert make_betas("linear", 100)[-1].item() == pytest.approx(0.2)


def test_unknown_schedule_and_bad_parameters_are_refused():
    with pytest.raises(SkelrecError, match=r"^unknown noise schedule 'sigmoid'; choose from linear, cosine, inverse_"):
        make_betas("sigmoid", 10)
    with pytest.raises(ValueError, match="bad parameters"):
        make_betas("cosine", 10, tau=1.0)
    with pytest.raises(ValueError, match="at least 1 step"):
        make_betas("linear", 0)
    assert set(NOISE_SCHEDULES) == {"linear", "cosine", "inverse_cosine"}
    with pytest.raises(ValueError, match="betas"):
        GaussianDiffusion(torch.tensor([0.1, 0.0]))


# ----------------------------------------------------------------------------------------------------------------
# Small helpers.
# ----------------------------------------------------------------------------------------------------------------


def test_extract_broadcasts_per_sample():
    buffer = torch.tensor([10.0, 20.0, 30.0])
    out = extract(buffer, torch.tensor([2, 0]), (2, 4, 5, 3))
    assert out.shape == (2, 1, 1, 1)
    assert out.flatten().tolist() == [30.0, 10.0]


def test_timestep_embedding_hand_values():
    emb = timestep_embedding(torch.tensor([0, 1]), 4)  # freqs = [1, 10000^-1/2] = [1, 0.01]
    assert emb.shape == (2, 4)
    assert emb[0].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert emb[1].tolist() == pytest.approx([math.cos(1), math.cos(0.01), math.sin(1), math.sin(0.01)])
    odd = timestep_embedding(torch.tensor([3]), 5)
    assert odd.shape == (1, 5) and odd[0, -1].item() == 0.0


def test_sampling_timesteps():
    seq = sampling_timesteps(1000, 50)
    assert len(seq) == 50 and seq[0].item() == 999 and seq[-1].item() == 0
    assert bool((seq[1:] < seq[:-1]).all())
    assert sampling_timesteps(10, 10).tolist() == list(range(9, -1, -1))
    with pytest.raises(ValueError):
        sampling_timesteps(10, 11)


def test_classifier_free_guidance_formula():
    cond = lambda x, t: x + 1.0  # noqa: E731
    uncond = lambda x, t: 2 * x  # noqa: E731
    guided = classifier_free_guidance(cond, uncond, 0.5)
    x = torch.tensor([1.0, 3.0])
    # eps_c + w (eps_c - eps_u) = [2, 4] + 0.5 ([2, 4] - [2, 6])
    assert guided(x, torch.zeros(2)).tolist() == [2.0, 3.0]


# ----------------------------------------------------------------------------------------------------------------
# Forward process and loss.
# ----------------------------------------------------------------------------------------------------------------


def test_q_sample_statistics():
    diffusion = GaussianDiffusion(make_betas("inverse_cosine", 100))
    torch.manual_seed(0)
    x0 = torch.full((20000, 3), 2.0)
    for step in (0, 40, 99):
        t = torch.full((x0.shape[0],), step)
        xt = diffusion.q_sample(x0, t, torch.randn_like(x0))
        abar = diffusion.alphas_cumprod[step].item()
        assert xt.mean().item() == pytest.approx(2.0 * math.sqrt(abar), abs=0.02)
        assert xt.std().item() == pytest.approx(math.sqrt(1 - abar), abs=0.02)


def test_predict_start_from_noise_inverts_q_sample():
    diffusion = GaussianDiffusion(make_betas("cosine", 50))
    x0, noise = torch.randn(6, 4, 3), torch.randn(6, 4, 3)
    t = torch.tensor([0, 5, 10, 20, 40, 49])
    xt = diffusion.q_sample(x0, t, noise)
    assert torch.allclose(diffusion.predict_start_from_noise(xt, t, noise), x0, atol=1e-3)
    assert torch.allclose(diffusion.predict_noise_from_start(xt, t, x0), noise, atol=1e-3)


def test_p_losses_weighting():
    diffusion = GaussianDiffusion(make_betas("linear", 100))
    x0, noise = torch.randn(2, 4), torch.randn(2, 4)
    t = torch.tensor([3, 7])
    weight = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.bool)
    perfect = lambda xt, t: noise  # noqa: E731
    assert diffusion.p_losses(perfect, x0, t, noise=noise).tolist() == [0.0, 0.0]
    off = torch.tensor([[1.0, 2.0, 50.0, 50.0], [9.0, 9.0, 9.0, 3.0]])
    loss = diffusion.p_losses(lambda xt, t: noise + off, x0, t, noise=noise, weight=weight)
    assert loss.tolist() == pytest.approx([(1 + 4) / 2, 9.0])  # weighted mean per sample, zero weights ignored
    unweighted = diffusion.p_losses(lambda xt, t: noise + off, x0, t, noise=noise)
    assert unweighted[1].item() == pytest.approx((81 * 3 + 9) / 4)


# ----------------------------------------------------------------------------------------------------------------
# Sampling.
# ----------------------------------------------------------------------------------------------------------------


def point_mass_denoiser(diffusion: GaussianDiffusion, target: torch.Tensor):
    """The exact noise predictor when the data distribution is the single point ``target``."""

    def model(xt, t):
        return (xt - extract(diffusion.sqrt_alphas_cumprod, t, xt.shape) * target) / extract(
            diffusion.sqrt_one_minus_alphas_cumprod, t, xt.shape
        )

    return model


@pytest.mark.parametrize("variance", ["small", "large"])
def test_samplers_recover_a_point_mass(variance):
    diffusion = GaussianDiffusion(make_betas("inverse_cosine", 40), variance=variance)
    target = torch.tensor([[0.5, -1.0, 2.0]]).expand(3, 3)
    model = point_mass_denoiser(diffusion, target)
    g = torch.Generator().manual_seed(0)
    for out in (
        diffusion.ddpm_sample(model, (3, 3), generator=g),
        diffusion.ddim_sample(model, (3, 3), steps=5, generator=g),
        diffusion.ddim_sample(model, (3, 3), steps=40, eta=1.0, generator=g),
        diffusion.sample(model, (3, 3), steps=3, generator=g),
    ):
        assert torch.allclose(out, target, atol=1e-3)


def test_ddim_eta_one_over_all_steps_is_ddpm():
    diffusion = GaussianDiffusion(make_betas("inverse_cosine", 20), variance="small")
    model = lambda xt, t: 0.3 * xt + 0.01 * t.float()[:, None]  # noqa: E731  (an arbitrary denoiser)
    ddpm = diffusion.ddpm_sample(model, (4, 3), generator=torch.Generator().manual_seed(5))
    ddim = diffusion.ddim_sample(model, (4, 3), steps=20, eta=1.0, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(ddpm, ddim, atol=1e-4)
    # and one DDIM step with eta = 1 has the DDPM posterior mean
    xt, t = torch.randn(4, 3), torch.full((4,), 7)
    mean, _, _ = diffusion.p_mean_variance(model, xt, t)
    step = diffusion.ddim_step(model, xt, t, t - 1, eta=1.0, generator=torch.Generator().manual_seed(1))
    sigma = math.exp(0.5 * diffusion.posterior_log_variance_clipped[7].item())
    noise = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(step, mean + sigma * noise, atol=1e-5)


def test_deterministic_ddim_is_reproducible():
    diffusion = GaussianDiffusion(make_betas("inverse_cosine", 100))
    model = lambda xt, t: torch.tanh(xt) * 0.5  # noqa: E731
    noise = torch.randn(2, 8, 3)
    a = diffusion.ddim_sample(model, (2, 8, 3), steps=10, noise=noise.clone())
    b = diffusion.ddim_sample(model, (2, 8, 3), steps=10, noise=noise.clone())
    assert torch.equal(a, b)
    c = diffusion.ddim_sample(model, (2, 8, 3), steps=10, generator=torch.Generator().manual_seed(3))
    d = diffusion.ddim_sample(model, (2, 8, 3), steps=10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(c, d) and not torch.equal(a, c)
    assert a.shape == (2, 8, 3) and bool(a.isfinite().all())


def test_clip_bounds_the_predicted_start():
    diffusion = GaussianDiffusion(make_betas("cosine", 10))
    model = point_mass_denoiser(diffusion, torch.full((2, 2), 5.0))
    out = diffusion.ddim_sample(model, (2, 2), steps=10, clip=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out, torch.ones(2, 2), atol=1e-4)


def test_ddpm_refuses_fewer_steps_and_bad_noise():
    diffusion = GaussianDiffusion(make_betas("linear", 100))
    model = lambda xt, t: xt  # noqa: E731
    with pytest.raises(ValueError, match="ddim=True"):
        diffusion.sample(model, (1, 2), steps=5, ddim=False)
    with pytest.raises(ValueError, match="noise has shape"):
        diffusion.sample(model, (1, 2), noise=torch.zeros(2, 2))
    assert diffusion.sample(model, (1, 2), ddim=False).shape == (1, 2)
