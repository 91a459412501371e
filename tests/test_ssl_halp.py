"""HaLP and its MoCo v2 machinery (skelrec.ssl.halp, skelrec.ssl.moco, skelrec.ssl.augment) on hand-computed cases."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
import train_standins as standins

from skelrec.config import load_config
from skelrec.errors import SkelrecError
from skelrec.ssl import InputSpec, build_encoder_for, build_method
from skelrec.ssl.augment import (
    ContrastiveViews,
    joint_corruption_matrices,
    shear_matrices,
    temporal_crop_resize,
    valid_span,
)
from skelrec.ssl.halp import hallucinate_positives, halp_loss, max_slerp_step, slerp, spherical_kmeans
from skelrec.ssl.moco import KeyQueue, info_nce
from skelrec.train import train

CPU_SMALL = Path(__file__).resolve().parent.parent / "pretrain" / "configs" / "halp" / "cpu_small.yaml"
SPEC = InputSpec("kinect20", frames=32, persons=2, channels=3)
SMALL_ENCODERS = {
    "bigru": {"hidden_size": 16, "num_layers": 1},
    "transformer": {"embed_dim": 16, "depth": 1, "num_heads": 2, "num_frames": 16},
    "stgcn": {"channels": [8, 16], "strides": [1, 2]},
}
SMALL_HALP = {
    "queue_size": 64,
    "num_prototypes": 4,
    "prototype_keys": 32,
    "num_positives": 6,
    "augment": {"frames": 16, "min_frames": 8},
}


def unit(deg: float) -> torch.Tensor:
    """The unit vector at ``deg`` degrees in the plane."""
    r = math.radians(deg)
    return torch.tensor([math.cos(r), math.sin(r)])


def small_halp(encoder: str = "bigru", **options) -> torch.nn.Module:
    torch.manual_seed(0)
    enc = build_encoder_for(SPEC, encoder, **SMALL_ENCODERS[encoder])
    return build_method("halp", enc, SPEC, **{**SMALL_HALP, **options})


def clip_batch(n: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.cumsum(0.05 * torch.randn(n, 2, SPEC.frames, SPEC.joints, 3, generator=g), dim=2)
    mask = torch.ones(n, 2, SPEC.frames, dtype=torch.bool)
    mask[::2, 1] = False
    x[::2, 1] = 0.0
    return {"x": x, "mask": mask, "label": torch.zeros(n, dtype=torch.long), "index": torch.arange(n)}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and leave the other core to the rest of the machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------------------------------------------
# Closed-form step, slerp, positives, k-means.
# ----------------------------------------------------------------------------------------------------------------


def test_max_step_hand_case_is_the_bisector():
    # k at 0 deg, nearest prototype p0 at -30 deg, target p at +60 deg: the bisector of p0 and p is at 15 deg,
    # so t_max = 15 / 60 = 0.25 of the way from k to p.
    k, p0, p = unit(0), unit(-30), unit(60)
    t_max = max_slerp_step(k, p, p0)
    assert float(t_max) == pytest.approx(0.25, abs=1e-5)
    g = slerp(k, p, t_max)
    assert torch.allclose(g, unit(15), atol=1e-5)
    # a little less keeps p0 nearest, a little more makes p nearest: the step is maximal.
    before, after = slerp(k, p, t_max - 1e-3), slerp(k, p, t_max + 1e-3)
    assert before @ p0 > before @ p
    assert after @ p > after @ p0


def test_max_step_is_the_boundary_for_random_cases_including_the_atan2_branch():
    g = torch.Generator().manual_seed(1)
    k, p, p0 = (F.normalize(torch.randn(4000, 5, generator=g), dim=1) for _ in range(3))
    swap = (k * p).sum(1) > (k * p0).sum(1)  # make p0 the nearer of the two
    p, p0 = torch.where(swap[:, None], p0, p), torch.where(swap[:, None], p, p0)
    cos_w = (k * p).sum(1)
    big_k = (1 - (p * p0).sum(1)) / (k * (p0 - p)).sum(1)
    assert bool((big_k + cos_w < 0).any()), "the sample should include cases where atan(sin/(K+cos)) < 0"
    t = max_slerp_step(k, p, p0)
    assert bool(((t > 0) & (t <= 1 + 1e-5)).all())
    gap = lambda s: (slerp(k, p, s) * (p0 - p)).sum(1)  # >= 0 while p0 is at least as close as p  # noqa: E731
    assert gap(t).abs().max() < 1e-3
    assert bool((gap(0.98 * t) > 0).all())
    assert bool((gap(torch.clamp(1.02 * t, max=1.0)) <= 1e-6).all())


def test_slerp_stays_on_the_great_circle():
    k, p = unit(10), unit(100)
    for t, deg in [(0.0, 10), (0.5, 55), (1.0, 100), (0.2, 28)]:
        assert torch.allclose(slerp(k, p, torch.tensor(t)), unit(deg), atol=1e-5)


def test_hallucinated_positives_keep_the_nearest_prototype_and_the_step_range():
    g = torch.Generator().manual_seed(0)
    prototypes = F.normalize(torch.randn(6, 8, generator=g), dim=1)
    anchors = F.normalize(torch.randn(10, 8, generator=g), dim=1)
    positives, keep = hallucinate_positives(anchors, prototypes, num_positives=7, candidates=3, lam=0.8, generator=g)
    assert positives.shape == (10, 7, 8) and keep.shape == (10, 7)
    assert torch.allclose(positives.norm(dim=-1), torch.ones(10, 7), atol=1e-5)
    nearest = (anchors @ prototypes.T).argmax(1)
    assert torch.equal(keep, (positives @ prototypes.T).argmax(-1) == nearest[:, None])  # the rank filter
    # every positive is at least as close to p0 as to any of the 3 candidate targets it could have walked to
    sims = positives @ prototypes.T  # (N, G, P)
    p0_sim = sims.gather(2, nearest[:, None, None].expand(10, 7, 1))[..., 0]
    order = (anchors @ prototypes.T).argsort(1, descending=True)
    candidate_sims = sims.gather(2, order[:, None, 1:4].expand(10, 7, 3))
    assert bool((p0_sim[..., None] >= candidate_sims.min(-1, keepdim=True).values - 1e-5).all())
    # lam = 0 puts every positive exactly on the boundary with its target prototype
    on_edge, _ = hallucinate_positives(anchors, prototypes, num_positives=3, candidates=1, lam=0.0)
    target = prototypes[order[:, 1]]
    edge_gap = on_edge @ prototypes[nearest].unsqueeze(-1) - on_edge @ target.unsqueeze(-1)
    assert edge_gap.abs().max() < 1e-4


def test_halp_loss_hand_case():
    q = torch.tensor([[1.0, 0.0]], requires_grad=True)
    positives = torch.tensor([[[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]])
    keep = torch.tensor([[True, True, False]])
    loss = halp_loss(q, positives, keep, temperature=0.5)
    assert loss.item() == pytest.approx(-(1.0 + 0.6) / 0.5 / 2)
    loss.backward()
    assert torch.allclose(q.grad, -torch.tensor([[1.6, 0.8]]) / 0.5 / 2)
    assert halp_loss(q, positives, torch.zeros(1, 3, dtype=torch.bool), 0.5).item() == 0.0


def test_spherical_kmeans_recovers_separable_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(8)[:4]
    labels = torch.arange(200) % 4
    points = F.normalize(centres[labels] + 0.15 * torch.randn(200, 8, generator=g), dim=1)
    found = spherical_kmeans(points, 4, generator=g)
    assert torch.allclose(found.norm(dim=1), torch.ones(4), atol=1e-5)
    match = (found @ centres.T).argmax(1)
    assert sorted(match.tolist()) == [0, 1, 2, 3]
    assert bool(((found @ centres.T).max(1).values > 0.98).all())
    assign = (points @ found.T).argmax(1)
    assert torch.equal(match[assign], labels)
    with pytest.raises(SkelrecError, match="clusters"):
        spherical_kmeans(points[:3], 4)


# ----------------------------------------------------------------------------------------------------------------
# MoCo: InfoNCE and the queue.
# ----------------------------------------------------------------------------------------------------------------


def test_info_nce_hand_case():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0]])
    negatives = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    loss, logits = info_nce(q, k, negatives, temperature=1.0)
    assert torch.allclose(logits, torch.tensor([[1.0, 0.0, -1.0]]))
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-1) + math.exp(-2)))
    loss_cold, _ = info_nce(q, k, negatives, temperature=0.5)
    assert float(loss_cold) == pytest.approx(math.log(1 + math.exp(-2) + math.exp(-4)))


def test_queue_enqueue_dequeue_wraps_around():
    queue = KeyQueue(5, 2)
    assert torch.allclose(queue.keys.norm(dim=1), torch.ones(5))
    first = torch.arange(6.0).reshape(3, 2)
    queue.enqueue(first)
    assert torch.equal(queue.keys[:3], first) and int(queue.ptr) == 3 and int(queue.seen) == 3
    second = 10 + torch.arange(6.0).reshape(3, 2)
    queue.enqueue(second)  # fills slots 3, 4 and wraps to 0, dequeuing the oldest key
    assert torch.equal(queue.keys[[3, 4, 0]], second) and int(queue.ptr) == 1 and int(queue.seen) == 6
    assert torch.equal(queue.recent(5), torch.cat([first[1:], second]))  # oldest first
    assert torch.equal(queue.recent(2), second[1:])
    with pytest.raises(SkelrecError, match="queue_size"):
        queue.enqueue(torch.zeros(6, 2))


def _distributed_worker(rank: int, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/init", rank=rank, world_size=2)
    try:
        queue = KeyQueue(8, 2)
        queue.enqueue(torch.full((2, 2), float(rank + 1)))  # rank 0 sends ones, rank 1 twos
        method = small_halp(halp_start_step=0)
        torch.manual_seed(100 + rank)  # each process would cluster different keys differently without the broadcast
        method.queue.keys.copy_(F.normalize(torch.randn(64, method.queue.keys.shape[1]), dim=1))
        method.queue.seen.fill_(64)
        method.refresh_prototypes()
        torch.save({"keys": queue.keys, "ptr": int(queue.ptr), "prototypes": method.prototypes}, f"{folder}/{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_queue_gathers_keys_and_prototypes_are_shared_across_two_gloo_processes(tmp_path):
    mp.spawn(_distributed_worker, args=(str(tmp_path),), nprocs=2)
    r0, r1 = (torch.load(tmp_path / f"{rank}.pt") for rank in (0, 1))
    expected = torch.tensor([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0], [2.0, 2.0]])  # both ranks' keys, in rank order
    assert torch.equal(r0["keys"][:4], expected) and torch.equal(r0["keys"], r1["keys"])
    assert r0["ptr"] == r1["ptr"] == 4
    assert torch.equal(r0["prototypes"], r1["prototypes"])


# ----------------------------------------------------------------------------------------------------------------
# Views.
# ----------------------------------------------------------------------------------------------------------------


def test_temporal_crop_resize_full_span_resizes_the_valid_frames_only():
    x = torch.zeros(2, 1, 20, 3, 3)
    ramp = torch.arange(1.0, 11.0)  # 10 valid frames: 3..12
    x[:, 0, 3:13] = ramp[:, None, None]
    mask = (x != 0).any(dim=(-1, -2))
    begin, end = valid_span(mask)
    assert begin.tolist() == [3, 3] and end.tolist() == [13, 13]
    same, same_mask = temporal_crop_resize(x, mask, (1.0, 1.0), min_frames=1, frames=10)
    assert torch.allclose(same[:, 0, :, 0, 0], ramp.expand(2, 10)) and bool(same_mask.all())
    half, _ = temporal_crop_resize(x, mask, (1.0, 1.0), min_frames=1, frames=5)
    assert torch.allclose(half[0, 0, :, 0, 0], torch.tensor([1.5, 3.5, 5.5, 7.5, 9.5]))  # linear, align_corners=False
    torch.manual_seed(0)
    crop, crop_mask = temporal_crop_resize(x, mask, (0.1, 0.5), min_frames=4, frames=8)
    values = crop[:, 0, :, 0, 0]
    assert bool(crop_mask.all()) and bool((values >= 1).all()) and bool((values <= 10).all())
    assert bool(((values.amax(1) - values.amin(1)) <= 5 - 1 + 1e-5).all())  # at most 5 frames of the 10
    assert bool(((values.amax(1) - values.amin(1)) >= 4 - 1 - 1e-5).all())  # at least min_frames = 4
    empty, empty_mask = temporal_crop_resize(
        torch.zeros(1, 1, 6, 3, 3), torch.zeros(1, 1, 6, dtype=torch.bool), (0.1, 1), 2, 4
    )
    assert not bool(empty_mask.any()) and not bool(empty.any())


def test_spatial_maps_shear_and_joint_corruption():
    torch.manual_seed(0)
    shear = shear_matrices(5, 3, 0.5, device=torch.device("cpu"))
    assert torch.equal(torch.diagonal(shear, dim1=1, dim2=2), torch.ones(5, 3))
    assert bool((shear.abs() <= 1.0).all())
    maps = joint_corruption_matrices(50, 25, 3, 0.6, 1.0, device=torch.device("cpu"))
    touched = (maps != torch.eye(3)).any(dim=(-1, -2))  # (50, 25)
    assert touched.sum(1).tolist() == [15] * 50  # 15 of 25 joints
    zeroed = (maps == 0).all(dim=(-1, -2)).any(dim=1)
    assert 10 < int(zeroed.sum()) < 40  # half of the clips zero their joints


def test_views_keep_padding_and_non_spatial_channels():
    torch.manual_seed(0)
    spec = InputSpec("coco17", frames=12, persons=2, channels=3)  # x, y, confidence
    views = ContrastiveViews.from_options(spec, {"min_frames": 4, "spatial_dims": 2, "p_corrupt": 0.0})
    x = torch.rand(4, 2, 12, 17, 3) + 0.5
    mask = torch.ones(4, 2, 12, dtype=torch.bool)
    mask[:, 1, 6:] = False
    x[:, 1, 6:] = 0.0
    view, view_mask = views(x, mask)
    assert view.shape == (4, 2, 12, 17, 3)
    assert not bool(view[~view_mask].any())  # padded person-frames stay zero
    assert bool((view[..., 2][view_mask] >= 0.5).all())  # confidence is not sheared
    with pytest.raises(SkelrecError, match="unknown keys"):
        ContrastiveViews.from_options(spec, {"rotate": 0.3})
    with pytest.raises(SkelrecError, match="crop"):
        ContrastiveViews.from_options(spec, {"crop": [0.5, 0.2]})


# ----------------------------------------------------------------------------------------------------------------
# The method.
# ----------------------------------------------------------------------------------------------------------------


def test_halp_starts_after_halp_start_step_and_refreshes_prototypes():
    method = small_halp(halp_start_step=2, prototype_every=3)
    batch = clip_batch()
    seen = []
    for step in range(1, 8):
        out = method(batch)
        seen.append((out["loss_halp"].item(), (out["loss"] - out["loss_infonce"]).item()))
        method.on_step_end(step)
        if step == 2:
            first = method.prototypes.clone()
            assert torch.allclose(first.norm(dim=1), torch.ones(4), atol=1e-5)
    assert seen[0] == (0.0, 0.0) and seen[1] == (0.0, 0.0)  # steps 1 and 2: plain MoCo
    assert all(halp != 0.0 and total == pytest.approx(2.0 * halp, rel=1e-4) for halp, total in seen[2:])  # mu = 2
    assert int(method.prototypes_step) == 5  # refreshed at steps 2 and 5
    fresh = small_halp(halp_start_step=2, prototype_every=3)
    assert not fresh.halp_active
    fresh.load_state_dict(method.state_dict())  # a resumed run continues with hallucination
    assert fresh.halp_active and int(fresh.prototypes_step) == 5 and torch.equal(fresh.prototypes, method.prototypes)


def test_on_step_end_moves_the_key_network_and_fills_the_queue():
    method = small_halp(momentum=0.5)
    batch = clip_batch()
    out = method(batch)
    out["loss"].backward()
    with torch.no_grad():
        for param in method.encoder.parameters():
            param.add_(1.0)
    before = [p.clone() for p in method.key_encoder.module.parameters()]
    method.on_step_end(1)
    after = list(method.key_encoder.module.parameters())
    query = list(method.encoder.parameters())
    assert all(torch.allclose(a, 0.5 * b + 0.5 * q) for a, b, q in zip(after, before, query, strict=True))
    assert int(method.queue.seen) == 8 and int(method.queue.ptr) == 8
    assert torch.allclose(method.queue.keys[:8].norm(dim=1), torch.ones(8), atol=1e-5)
    assert all(not p.requires_grad for p in method.key_encoder.parameters())


def test_keys_of_a_batchnorm_encoder_use_shuffled_sub_batch_statistics_in_the_original_order():
    method = small_halp("stgcn")  # BatchNorm in ST-GCN: shuffle-BN with 2 sub-batches
    assert method.shuffle_bn_groups == 2 and small_halp("transformer").shuffle_bn_groups == 1
    batch = clip_batch(8)
    x, mask = batch["x"], batch["mask"]
    torch.manual_seed(5)
    keys = method.keys(x, mask)
    torch.manual_seed(5)
    order = torch.randperm(8)
    encoder, projector = method.key_encoder.module, method.key_projector.module
    assert not encoder.training and not projector.training  # back in eval mode
    expected = torch.empty(8, keys.shape[1])
    with torch.no_grad():
        encoder.train()
        for group in order.tensor_split(2):  # each sample normalised with its own random sub-batch's statistics
            expected[group] = F.normalize(projector(encoder(x[group], mask[group])), dim=1)
        encoder.eval()
        running = F.normalize(projector(encoder(x, mask)), dim=1)
    assert torch.allclose(keys, expected, atol=1e-5)
    assert not torch.allclose(keys, running, atol=1e-3)  # not the copied running statistics
    assert torch.allclose(method.keys(x[:3], mask[:3]), running[:3], atol=1e-5)  # 3 clips: too few to split


@pytest.mark.parametrize(("encoder", "mu"), [("bigru", 2.0), ("transformer", 0.0), ("stgcn", 2.0)])
def test_a_few_steps_reduce_the_loss_on_a_fixed_batch(encoder, mu):
    method = small_halp(encoder, halp_start_step=0, mu=mu)  # mu = 0: plain MoCo v2
    with torch.no_grad():  # queue and prototypes from other clips' keys; both stay fixed below
        for step in range(1, 5):
            method(clip_batch(16, seed=step))
            method.on_step_end(step)
        method.refresh_prototypes()
    batch = clip_batch(16)

    def evaluate() -> dict[str, torch.Tensor]:
        torch.manual_seed(123)  # the same two views every time
        with torch.no_grad():
            return method(batch)

    before = evaluate()
    opt = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=3e-3)
    for _ in range(15):
        out = method(batch)
        opt.zero_grad()
        out["loss"].backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in method.encoder.parameters())
        opt.step()
    after = evaluate()
    assert float(before["loss_halp"]) != 0.0
    assert float(after["loss"]) < float(before["loss"]) - 0.3


def test_halp_option_errors():
    enc = build_encoder_for(SPEC, "bigru", hidden_size=8, num_layers=1)
    with pytest.raises(SkelrecError, match="no option queue"):
        build_method("halp", enc, SPEC, queue=10)
    with pytest.raises(SkelrecError, match="prototype_keys"):
        build_method("halp", enc, SPEC, queue_size=16, prototype_keys=256)
    with pytest.raises(SkelrecError, match="temperature"):
        build_method("moco", enc, SPEC, temperature=0.0)


@pytest.mark.parametrize(
    ("config", "small"),
    [
        ("cpu_small", ["encoder.kwargs.hidden_size=16"]),
        ("cpu_stgcn", ["encoder.kwargs.channels=[8,16]", "encoder.kwargs.strides=[1,2]"]),
    ],
)
def test_halp_trains_through_the_loop_with_its_cpu_configs(tmp_path, config, small):
    cfg = load_config(
        CPU_SMALL.with_name(f"{config}.yaml"),
        [
            f"run.out_dir={tmp_path / 'run'}",
            "run.max_steps=4",
            "optim.batch_size=8",
            *small,
            "method.kwargs.queue_size=64",
            "method.kwargs.prototype_keys=16",
            "method.kwargs.num_prototypes=4",
            "method.kwargs.halp_start_step=2",
            "method.kwargs.augment.min_frames=8",
        ],
    )
    result = train(cfg, prepared=standins.MemoryPrepared())
    assert result.step == 4 and math.isfinite(result.loss)
    assert result.method.halp_active
    assert (result.export_dir / "model.safetensors").is_file()
