"""Clip transforms (skelrec.datasets.transforms): MAMP crop/rotation semantics, seeding, zero padding."""

from __future__ import annotations

import numpy as np
import pytest

from skelrec.config import AugmentConfig, DataConfig
from skelrec.datasets.transforms import (
    Compose,
    DropJoints,
    FrameRateChange,
    JointNoise,
    RandomDepthScale,
    RandomFlip,
    RandomRotation,
    RandomScale,
    ValidCropResize,
    build_transform,
    rotation_matrix,
    valid_span,
)
from skelrec.errors import SkelrecError
from skelrec.skeleton import Normalization, get_layout, normalize, valid_mask

V = 20  # kinect20


def ramp_clip(lead: int = 5, length: int = 100, tail: int = 7, persons: int = 2) -> np.ndarray:
    """``(M, T, V, 3)``: channel 0 = 1 + index of the frame within the valid span, zeros before and after."""
    x = np.zeros((persons, lead + length + tail, V, 3), np.float32)
    x[:, lead : lead + length, :, 0] = 1.0 + np.arange(length, dtype=np.float32)[None, :, None]
    x[:, lead : lead + length, :, 1:] = 0.5
    return x


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_valid_span():
    x = ramp_clip(lead=5, length=100, tail=7)
    assert valid_span(valid_mask(x)) == (5, 105)
    assert valid_span(np.zeros((2, 9), bool)) == (0, 0)


def test_center_crop_keeps_the_middle_95_percent_mamp():
    """MAMP test crop: bias = int((1 - p) * valid / 2) frames off each end of the valid span, then resize."""
    x = ramp_clip(length=100)
    out, mask = ValidCropResize(frames=30, ratio=(0.95, 0.95), center=True)(x, valid_mask(x), rng())
    assert out.shape == (2, 30, V, 3) and mask.all()
    bias = int(0.05 * 100 / 2)  # 2
    assert out[0, 0, 0, 0] == pytest.approx(1 + bias)
    assert out[0, -1, 0, 0] == pytest.approx(100 - bias)
    assert np.all(np.diff(out[0, :, 0, 0]) > 0)


def test_random_crop_respects_ratio_and_min_frames():
    x = ramp_clip(length=100)
    spans = []
    for seed in range(40):
        out, _ = ValidCropResize(frames=16, ratio=(0.5, 1.0), min_frames=64)(x, valid_mask(x), rng(seed))
        first, last = out[0, 0, 0, 0], out[0, -1, 0, 0]
        assert first >= 1 and last <= 100
        spans.append(last - first + 1)
    spans = np.array(spans)
    assert spans.min() >= 64 - 1e-4  # min_frames wins over the 50% ratio
    assert spans.max() <= 100 + 1e-4
    assert len(np.unique(np.round(spans))) > 5  # the crop length is random
    short, _ = ValidCropResize(frames=16, ratio=(0.5, 0.5), min_frames=1)(x, valid_mask(x), rng(1))
    assert short[0, -1, 0, 0] - short[0, 0, 0, 0] + 1 == pytest.approx(50, abs=1e-4)


def test_crop_is_a_function_of_the_generator_seed():
    x = ramp_clip()
    t = ValidCropResize(frames=24, ratio=(0.3, 1.0), min_frames=4)
    a = t(x, valid_mask(x), rng(7))[0]
    assert np.array_equal(a, t(x, valid_mask(x), rng(7))[0])
    assert not np.array_equal(a, t(x, valid_mask(x), rng(8))[0])


def test_crop_of_empty_clip_is_zeros():
    x = np.zeros((2, 10, V, 3), np.float32)
    out, mask = ValidCropResize(frames=8)(x, valid_mask(x), rng())
    assert out.shape == (2, 8, V, 3) and not out.any() and not mask.any()


def test_random_rotation_matches_mamp_matrix_and_bounds():
    x = np.random.default_rng(3).normal(size=(2, 12, V, 3)).astype(np.float32)
    out, _ = RandomRotation(0.3)(x, valid_mask(x), rng(5))
    angles = rng(5).uniform(-0.3, 0.3, 3)
    r = rotation_matrix(angles)
    assert np.allclose(out, x @ r.T.astype(np.float32), atol=1e-5)
    assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
    assert np.allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), atol=1e-5)
    # the same rotation for every frame and person: recover it by least squares from all points
    fit, *_ = np.linalg.lstsq(x.reshape(-1, 3), out.reshape(-1, 3), rcond=None)
    assert np.allclose(fit, r.T, atol=1e-4)
    assert np.array_equal(RandomRotation(0.0)(x, valid_mask(x), rng())[0], x)


def test_rotation_matrix_order_is_rz_ry_rx():
    a = np.array([0.1, -0.2, 0.25])

    def about(axis: int, t: float) -> np.ndarray:
        angles = np.zeros(3)
        angles[axis] = t
        return rotation_matrix(angles)

    assert np.allclose(rotation_matrix(a), about(2, a[2]) @ about(1, a[1]) @ about(0, a[0]))


def test_noise_scale_and_drop_keep_padding_zero():
    x = ramp_clip(lead=4, length=30, tail=4)
    x[1, :12] = 0.0  # person 2 appears late
    mask = valid_mask(x)
    for t in (JointNoise(0.05), RandomScale(0.5, 1.5), DropJoints(0.3), RandomRotation(0.3)):
        out, out_mask = t(x, mask, rng(2))
        assert out.shape == x.shape
        assert not out[~mask].any(), f"{t} wrote into padding"
        assert not (out_mask & ~mask).any()


def test_joint_noise_std():
    x = np.ones((1, 400, V, 3), np.float32)
    out, _ = JointNoise(0.01)(x, valid_mask(x), rng(0))
    assert (out - x).std() == pytest.approx(0.01, rel=0.05)
    assert abs((out - x).mean()) < 1e-3


def test_scale_is_one_factor():
    x = np.random.default_rng(0).normal(size=(1, 6, V, 3)).astype(np.float32)
    out, _ = RandomScale(0.5, 1.5)(x, valid_mask(x), rng(4))
    ratio = out / x
    assert np.allclose(ratio, ratio.flat[0], atol=1e-5) and 0.5 <= ratio.flat[0] <= 1.5


def test_depth_scale_changes_only_depth_by_one_factor():
    x = np.random.default_rng(0).normal(size=(2, 6, V, 3)).astype(np.float32)
    out, _ = RandomDepthScale(0.5, 1.5)(x, valid_mask(x), rng(4))
    np.testing.assert_array_equal(out[..., :2], x[..., :2])
    ratio = out[..., 2] / x[..., 2]
    assert np.allclose(ratio, ratio.flat[0], atol=1e-5) and 0.5 <= ratio.flat[0] <= 1.5 and ratio.flat[0] != 1
    with pytest.raises(SkelrecError, match="depth scaling needs x, y, z channels"):
        RandomDepthScale(0.5, 1.5)(x[..., :2], valid_mask(x), rng(4))
    with pytest.raises(SkelrecError, match="depth_scale"):
        AugmentConfig(depth_scale=(1.5, 0.5))


def test_flip_mirrors_x_and_swaps_the_sides():
    layout = get_layout("kinect20")
    x = np.random.default_rng(0).normal(size=(2, 6, V, 3)).astype(np.float32)
    flip = RandomFlip(1.0, tuple(layout.flip_index))
    out, mask = flip(x, valid_mask(x), rng(4))
    left, right = layout.index("left_hand"), layout.index("right_hand")
    np.testing.assert_array_equal(out[:, :, left, 0], -x[:, :, right, 0])  # the right hand, mirrored, is the left
    np.testing.assert_array_equal(out[:, :, left, 1:], x[:, :, right, 1:])
    spine = layout.index("spine_mid")
    np.testing.assert_array_equal(out[:, :, spine], x[:, :, spine] * np.array([-1, 1, 1], np.float32))
    np.testing.assert_array_equal(flip(out, mask, rng(4))[0], x)  # twice is the identity
    np.testing.assert_array_equal(RandomFlip(0.0, tuple(layout.flip_index))(x, mask, rng(4))[0], x)
    flipped = [not np.array_equal(RandomFlip(0.5, tuple(layout.flip_index))(x, mask, rng(s))[0], x) for s in range(40)]
    assert 10 < sum(flipped) < 30  # about half
    with pytest.raises(SkelrecError, match="flip"):
        AugmentConfig(flip=1.5)


def test_drop_joints_zeroes_whole_joint_tracks():
    x = np.random.default_rng(0).normal(size=(2, 10, V, 3)).astype(np.float32) + 3
    out, _ = DropJoints(0.5)(x, valid_mask(x), rng(1))
    dropped = ~out.any(axis=(1, 3))  # (M, V)
    assert 0 < dropped.sum() < dropped.size
    kept = ~dropped
    assert np.array_equal(out.transpose(0, 2, 1, 3)[kept], x.transpose(0, 2, 1, 3)[kept])
    assert np.array_equal(DropJoints(0.0)(x, valid_mask(x), rng())[0], x)


def test_frame_rate_change_resamples_the_valid_span():
    x = ramp_clip(lead=3, length=60, tail=0, persons=1)
    out, mask = FrameRateChange(2.0, 2.0)(x, valid_mask(x), rng())
    assert out.shape[1] == 30 and mask.all()
    assert out[0, 0, 0, 0] == pytest.approx(1) and out[0, -1, 0, 0] == pytest.approx(60)
    slow, _ = FrameRateChange(0.5, 0.5)(x, valid_mask(x), rng())
    assert slow.shape[1] == 120


def data_config(**augment) -> DataConfig:
    return DataConfig(
        layout="kinect20",
        clip_length=16,
        persons=3,
        normalization=Normalization(center="sequence", scale="torso"),
        augment=AugmentConfig(crop_min_frames=8, **augment),
    )


def test_eval_pipeline_is_deterministic_and_uses_normalize():
    x = np.random.default_rng(0).normal(size=(2, 40, V, 3)).astype(np.float32)
    x[:, :5] = 0
    cfg = data_config()
    pipeline = build_transform(cfg, train=False)
    a, mask = pipeline(x, rng=rng(1))
    b, _ = pipeline(x, rng=rng(2))
    assert np.array_equal(a, b)
    assert a.shape == (3, 16, V, 3) and mask.shape == (3, 16)
    assert mask[:2].all() and not mask[2].any() and not a[2].any()
    # the first output frame is the first frame of the centred 95% crop of the *normalized* clip
    ref, ref_mask = normalize(x, "kinect20", cfg.normalization)
    begin, end = valid_span(ref_mask)
    bias = int(0.05 * (end - begin) / 2)
    assert np.allclose(a[:2, 0], ref[:, begin + bias], atol=1e-5)


def test_train_pipeline_composes_all_augmentations():
    cfg = data_config(
        fps_scale=(0.8, 1.2), depth_scale=(0.5, 1.5), flip=0.5, scale=(0.9, 1.1), noise_std=0.01, drop_joints=0.1
    )
    pipeline = build_transform(cfg, train=True)
    names = [type(t).__name__ for t in pipeline.transforms]
    assert names == [
        "Normalize",
        "SelectChannels",
        "FrameRateChange",
        "ValidCropResize",
        "RandomDepthScale",
        "RandomFlip",
        "RandomRotation",
        "RandomScale",
        "JointNoise",
        "DropJoints",
        "PadPersons",
    ]
    x = ramp_clip(length=50)
    a, mask = pipeline(x, rng=rng(1))
    assert a.shape == (3, 16, V, 3) and a.dtype == np.float32
    assert not a[~mask].any()
    assert np.array_equal(a, pipeline(x, rng=rng(1))[0])
    assert not np.array_equal(a, pipeline(x, rng=rng(2))[0])
    neutral = [type(t).__name__ for t in build_transform(data_config(rotate=0.0), train=True).transforms]
    assert neutral == ["Normalize", "SelectChannels", "ValidCropResize", "PadPersons"]


def test_pipeline_errors_are_actionable():
    with pytest.raises(SkelrecError, match=r"data\.layout"):
        build_transform(DataConfig(), train=False)
    x2d = np.ones((1, 10, V, 2), np.float32)
    with pytest.raises(SkelrecError, match=r"data\.channels=2"):
        build_transform(data_config(), train=False)(x2d)
    with pytest.raises(SkelrecError, match=r"\(M, T, V, C\)"):
        Compose([])(np.ones((10, V, 3)))


def test_data_paths_accept_a_per_cache_split():
    from skelrec.datasets.torch_data import _parse_source
    from skelrec.errors import SkelrecError

    assert _parse_source("caches/a", None, "train") == ("caches/a", None, "train")
    assert _parse_source("caches/a", "xsub", "test") == ("caches/a", "xsub", "test")
    assert _parse_source("caches/nw_ucla#xsub:train", None, "test") == ("caches/nw_ucla", "xsub", "train")
    with pytest.raises(SkelrecError, match="PATH#PROTOCOL:train"):
        _parse_source("caches/a#xsub", None, "train")
