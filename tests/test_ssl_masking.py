"""Masking strategies (skelrec.ssl.masking): exact ratios, index bookkeeping, seeding and the motion biases."""

from __future__ import annotations

import pytest
import torch

from skelrec.errors import SkelrecError
from skelrec.ssl.masking import (
    MaskIndices,
    mamp_masking,
    mask_indices,
    motion_aware_masking,
    motion_aware_tube_masking,
    num_masked,
    random_masking,
)
from skelrec.ssl.targets import patch_motion


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_consistent(m: MaskIndices, num_tokens: int, num_mask: int) -> None:
    """keep/masked partition the tokens, are ascending and agree with the boolean mask."""
    b = m.mask.shape[0]
    assert m.mask.shape == (b, num_tokens) and m.mask.dtype == torch.bool
    assert m.keep.shape == (b, num_tokens - num_mask) and m.masked.shape == (b, num_mask)
    assert bool((m.mask.sum(dim=1) == num_mask).all())
    assert torch.equal(torch.cat([m.keep, m.masked], 1).sort(1).values, torch.arange(num_tokens).expand(b, -1))
    assert bool((m.keep.diff(dim=1) > 0).all()) and bool((m.masked.diff(dim=1) > 0).all())
    assert not bool(m.mask.gather(1, m.keep).any()) and bool(m.mask.gather(1, m.masked).all())


@pytest.mark.parametrize(("tokens", "ratio", "masked"), [(750, 0.9, 675), (100, 0.75, 75), (10, 0.9, 9), (8, 0.0, 0)])
def test_random_masking_ratio_is_exact(tokens, ratio, masked):
    assert num_masked(tokens, ratio) == masked
    m = random_masking(5, tokens, ratio, device="cpu", generator=seeded())
    assert_consistent(m, tokens, masked)


def test_random_masking_is_seeded_and_varies_per_sample():
    a = random_masking(4, 50, 0.5, device="cpu", generator=seeded(1))
    b = random_masking(4, 50, 0.5, device="cpu", generator=seeded(1))
    c = random_masking(4, 50, 0.5, device="cpu", generator=seeded(2))
    assert torch.equal(a.mask, b.mask) and not torch.equal(a.mask, c.mask)
    assert len({tuple(row.tolist()) for row in a.masked}) == 4


def test_mask_indices_of_a_hand_mask_and_bad_ratios():
    mask = torch.tensor([[True, False, True, False, False], [False, False, True, True, False]])
    m = mask_indices(mask, 2)
    assert m.keep.tolist() == [[1, 3, 4], [0, 1, 4]] and m.masked.tolist() == [[0, 2], [2, 3]]
    with pytest.raises(SkelrecError, match=r"mask ratio 1\.0 is outside"):
        num_masked(10, 1.0)


def test_motion_aware_masking_draws_from_the_motion_softmax():
    """With one masked token, Gumbel-top-k picks token i with probability softmax(m / (tau max m))_i."""
    motion = torch.tensor([0.0, 1.0, 2.0, 4.0])
    tau = 0.8
    expected = torch.softmax(motion / (4.0 * tau), dim=0)
    m = motion_aware_masking(motion.expand(40_000, -1), 0.25, tau, generator=seeded(3))
    assert_consistent(m, 4, 1)
    freq = m.mask.float().mean(dim=0)
    assert torch.allclose(freq, expected, atol=0.01), (freq, expected)


def test_motion_aware_masking_prefers_moving_tokens_over_uniform():
    motion = torch.cat([torch.ones(25), torch.full((25,), 0.1)]).reshape(1, 2, 25).expand(2000, -1, -1)  # (B, T', V)
    aware = motion_aware_masking(motion, 0.5, 0.8, generator=seeded(4))
    uniform = random_masking(2000, 50, 0.5, device="cpu", generator=seeded(4))
    assert_consistent(aware, 50, 25)
    rate_aware = aware.mask.float().mean(dim=0)
    rate_uniform = uniform.mask.float().mean(dim=0)
    assert rate_aware[:25].mean() > rate_aware[25:].mean() + 0.2
    assert abs(float(rate_uniform[:25].mean() - rate_uniform[25:].mean())) < 0.03
    sharp = motion_aware_masking(motion[:4], 0.5, 0.01, generator=seeded(5))
    assert bool(sharp.mask[:, :25].all())  # a tiny temperature masks exactly the moving half
    with pytest.raises(SkelrecError, match="tau > 0"):
        motion_aware_masking(motion, 0.5, 0.0)


def test_tube_masking_masks_the_same_joints_over_each_tube():
    b, steps, v, tube = 6, 12, 25, 5  # tubes: steps 0-4, 5-9, 10-11 (a shorter last tube)
    motion = torch.rand(b, steps, v, generator=seeded(6))
    m = motion_aware_tube_masking(motion, 0.9, tube_len=tube, s_tau=0.1, generator=seeded(7))
    per_step = num_masked(v, 0.9)
    assert per_step == 23
    assert_consistent(m, steps * v, steps * per_step)
    grid = m.mask.reshape(b, steps, v)
    assert bool((grid.sum(dim=2) == per_step).all())
    for start, stop in [(0, 5), (5, 10), (10, 12)]:
        assert bool((grid[:, start:stop] == grid[:, start : start + 1]).all())
    assert not torch.equal(grid[:, 0], grid[:, 5])  # tubes draw independently


def test_tube_masking_motion_bias_matches_the_score_rule():
    """Two joints, one masked per tube, joint 0 moving: P(u0 + s_tau > u1) = 1 - (1 - s_tau)^2 / 2."""
    motion = torch.zeros(20_000, 5, 2)
    motion[:, 2, 0] = 3.0  # joint 0 moves in one step of the only tube: its normalised tube motion is 1
    for s_tau in (0.0, 0.1, 0.5):
        m = motion_aware_tube_masking(motion, 0.5, tube_len=5, s_tau=s_tau, generator=seeded(8))
        rate = m.mask.reshape(-1, 5, 2)[:, 0, 0].float().mean()
        assert float(rate) == pytest.approx(1 - (1 - s_tau) ** 2 / 2, abs=0.015)
    big = motion_aware_tube_masking(motion[:50], 0.5, tube_len=5, s_tau=2.0, generator=seeded(9))
    assert bool(big.mask.reshape(-1, 5, 2)[:, :, 0].all())


def test_tube_masking_is_seeded_and_checks_its_input():
    motion = torch.rand(3, 10, 25)
    a = motion_aware_tube_masking(motion, 0.9, generator=seeded(1))
    b = motion_aware_tube_masking(motion, 0.9, generator=seeded(1))
    assert torch.equal(a.mask, b.mask)
    with pytest.raises(SkelrecError, match=r"motion shaped \(B, T', V\)"):
        motion_aware_tube_masking(motion.flatten(1), 0.9)
    with pytest.raises(SkelrecError, match="tube_len must be >= 1"):
        motion_aware_tube_masking(motion, 0.9, tube_len=0)


def test_mamp_masking_dispatches_on_tau():
    patches = torch.rand(3, 4, 5, 6)  # (B, T', V, P)
    uniform = mamp_masking(patches, 0.8, -1.0, generator=seeded(1))
    assert torch.equal(uniform.mask, random_masking(3, 20, 0.8, device="cpu", generator=seeded(1)).mask)
    aware = mamp_masking(patches, 0.8, 0.5, generator=seeded(1))
    assert torch.equal(aware.mask, motion_aware_masking(patch_motion(patches), 0.8, 0.5, generator=seeded(1)).mask)
