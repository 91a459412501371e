from __future__ import annotations

import numpy as np
import pytest

from skelrec.errors import SkelrecError
from skelrec.skeleton import (
    LAYOUTS,
    Normalization,
    conversion_matrix,
    convert,
    from_mediapipe_world,
    get_layout,
    normalize,
    pad_persons,
    resample_frames,
    valid_mask,
)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_is_a_tree_with_consistent_sides(name):
    lay = get_layout(name)
    # every joint reaches the root without cycles
    for j in range(lay.num_joints):
        seen, k = set(), j
        while lay.parents[k] >= 0:
            assert k not in seen
            seen.add(k)
            k = lay.parents[k]
    assert len(lay.bones) == lay.num_joints - 1
    # left/right pairs are symmetric and the flip is an involution
    flip = lay.flip_index
    assert np.array_equal(flip[flip], np.arange(lay.num_joints))
    for a, b in lay.left_right_pairs:
        assert lay.joints[a].replace("left_", "") == lay.joints[b].replace("right_", "")
    # regions partition the joints; symmetric regions have the same size
    regions = lay.regions
    assert sorted(j for r in regions.values() for j in r) == list(range(lay.num_joints))
    assert len(regions["left_arm"]) == len(regions["right_arm"]) > 0
    assert len(regions["left_leg"]) == len(regions["right_leg"]) > 0


def test_kinect_v1_orders_are_permutations_of_each_other():
    k20 = get_layout("kinect20")
    for other in ("utd_mhad20", "msr_action3d20"):
        w = conversion_matrix(other, "kinect20")
        assert np.array_equal(w.sum(0), np.ones(20)) and np.array_equal(w.sum(1), np.ones(20))
        assert sorted(get_layout(other).joints) == sorted(k20.joints)
    # ntu25 contains every Kinect v1 joint
    assert set(k20.joints) <= set(get_layout("ntu25").joints)


def test_convert_by_name_round_trip():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 20, 3)).astype(np.float32)
    utd = convert(x, "kinect20", "utd_mhad20")
    back = convert(utd, "utd_mhad20", "kinect20")
    np.testing.assert_array_equal(back, x)
    lay_u, lay_k = get_layout("utd_mhad20"), get_layout("kinect20")
    np.testing.assert_array_equal(utd[..., lay_u.index("head"), :], x[..., lay_k.index("head"), :])


def test_mediapipe_to_ntu_builds_missing_joints_from_existing_ones():
    mp = get_layout("mediapipe33")
    x = np.zeros((1, 1, 33, 3), np.float32)
    x[0, 0, mp.index("left_hip")] = [1, 0, 0]
    x[0, 0, mp.index("right_hip")] = [-1, 0, 0]
    x[0, 0, mp.index("left_shoulder")] = [1, 2, 0]
    x[0, 0, mp.index("right_shoulder")] = [-1, 2, 0]
    out = convert(x, "mediapipe33", "ntu25")
    ntu = get_layout("ntu25")
    np.testing.assert_allclose(out[0, 0, ntu.index("spine_base")], [0, 0, 0])
    np.testing.assert_allclose(out[0, 0, ntu.index("spine_shoulder")], [0, 2, 0])
    mid_y = out[0, 0, ntu.index("spine_mid"), 1]
    assert 0.8 < mid_y < 1.4  # between hips and shoulders
    np.testing.assert_allclose(out[0, 0, ntu.index("left_shoulder")], [1, 2, 0])
    kin = convert(x, "mediapipe33", "kinect20")
    assert kin.shape == (1, 1, 20, 3)


def test_conversion_to_a_richer_layout_is_refused_with_a_clear_error():
    with pytest.raises(SkelrecError, match="cannot build layout mediapipe33 from ntu25"):
        conversion_matrix("ntu25", "mediapipe33")
    with pytest.raises(SkelrecError, match="unknown skeleton layout"):
        get_layout("openpose25")


def test_from_mediapipe_world_axes_and_mirroring():
    mp = get_layout("mediapipe33")
    w = np.zeros((33, 3), np.float32)
    # unmirrored video of a subject facing the camera: their left shoulder is on the image right (+x in MediaPipe)
    w[mp.index("left_shoulder")] = [0.2, -0.5, 0.0]
    w[mp.index("right_shoulder")] = [-0.2, -0.5, 0.0]
    out = from_mediapipe_world(w)
    # skelrec: x towards the subject's right, y up
    assert out[mp.index("right_shoulder"), 0] > out[mp.index("left_shoulder"), 0]
    assert out[mp.index("left_shoulder"), 1] > 0
    # the same picture mirrored: MediaPipe calls the shoulder on the image right "left" but it is the subject's right
    mirrored = from_mediapipe_world(w, mirrored=True)
    assert mirrored[mp.index("right_shoulder"), 0] > mirrored[mp.index("left_shoulder"), 0]
    np.testing.assert_allclose(mirrored[mp.index("right_shoulder")], [0.2, 0.5, 0.0])


def _standing_person(t: int = 10, offset=(1.0, 0.5, 3.0), scale: float = 1.0) -> np.ndarray:
    """A crude ntu25 skeleton, torso length ``scale``, translated by ``offset``; arms swing over time."""
    ntu = get_layout("ntu25")
    x = np.zeros((1, t, 25, 3), np.float32)
    pos = {
        "spine_base": (0, 0, 0),
        "spine_mid": (0, 0.5, 0),
        "spine_shoulder": (0, 1, 0),
        "neck": (0, 1.1, 0),
        "head": (0, 1.3, 0),
        "left_shoulder": (-0.4, 1, 0),
        "right_shoulder": (0.4, 1, 0),
        "left_hip": (-0.2, 0, 0),
        "right_hip": (0.2, 0, 0),
    }
    for name, p in pos.items():
        x[0, :, ntu.index(name)] = p
    x[0, :, ntu.index("right_hand"), 1] = np.linspace(0.5, 1.5, t)
    x[0, :, ntu.index("right_hand"), 0] = 0.5
    others = [j for j, n in enumerate(ntu.joints) if n not in pos and n != "right_hand"]
    x[0, :, others] = [0.01, 0.01, 0.01]  # every other joint near the centre, not exactly zero
    return x * scale + np.asarray(offset, np.float32)


def test_normalize_centres_and_scales():
    x = _standing_person(offset=(1.0, 0.5, 3.0), scale=1.7)
    out, mask = normalize(x, "ntu25", Normalization(center="sequence", scale="torso"))
    ntu = get_layout("ntu25")
    np.testing.assert_allclose(out[0, 0, ntu.index("spine_base")], 0, atol=1e-6)
    torso = np.linalg.norm(out[0, :, ntu.index("spine_shoulder")] - out[0, :, ntu.index("spine_base")], axis=-1)
    np.testing.assert_allclose(torso, 1.0, rtol=1e-5)
    assert mask.all()
    # invariance: the same motion at another place and size normalizes to the same array
    out2, _ = normalize(_standing_person(offset=(-2, 0, 5), scale=0.6), "ntu25", Normalization())
    np.testing.assert_allclose(out, out2, atol=1e-5)


def test_normalize_align_makes_spine_vertical_and_shoulders_horizontal():
    x = _standing_person(offset=(0, 0, 0))
    ang = 0.7
    rot = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1]], np.float32)
    rot2 = np.array([[np.cos(1.1), 0, np.sin(1.1)], [0, 1, 0], [-np.sin(1.1), 0, np.cos(1.1)]], np.float32)
    tilted = x @ (rot2 @ rot).T + np.float32(2.0)
    out, _ = normalize(tilted, "ntu25", Normalization(align=True))
    ref, _ = normalize(x, "ntu25", Normalization(align=True))
    np.testing.assert_allclose(out, ref, atol=1e-4)  # invariant to the camera's view
    ntu = get_layout("ntu25")
    spine = out[0, 0, ntu.index("spine_shoulder")] - out[0, 0, ntu.index("spine_base")]
    shoulders = out[0, 0, ntu.index("right_shoulder")] - out[0, 0, ntu.index("left_shoulder")]
    np.testing.assert_allclose(spine / np.linalg.norm(spine), [0, 1, 0], atol=1e-5)
    assert abs(shoulders[1]) < 1e-5 and abs(shoulders[2]) < 1e-5 and shoulders[0] > 0


def test_normalize_keeps_padding_zero_and_resamples():
    x = _standing_person(t=12)
    x = np.concatenate([np.zeros((1, 3, 25, 3), np.float32), x, np.zeros((1, 5, 25, 3), np.float32)], axis=1)
    second = np.zeros_like(x)
    second[0, 6:10] = x[0, 6:10] + 1.0
    x = np.concatenate([x, second])  # (2, 20, 25, 3), person 2 only in frames 6..9
    out, mask = normalize(x, "ntu25", Normalization(frames=24, persons=3))
    assert out.shape == (3, 24, 25, 3) and mask.shape == (3, 24)
    assert mask[0].all()  # the valid span of person 0 fills all 24 frames
    assert 0 < mask[1].sum() < 24 and not mask[2].any()
    assert np.all(out[~mask] == 0)
    np.testing.assert_array_equal(valid_mask(out), mask)


def test_resample_frames_is_linear_interpolation():
    x = np.zeros((1, 3, 1, 3), np.float32)
    x[0, :, 0, 0] = [1, 2, 3]
    out, mask = resample_frames(x, valid_mask(x), 5)
    np.testing.assert_allclose(out[0, :, 0, 0], [1, 1.5, 2, 2.5, 3])
    assert mask.all()


def test_pad_persons_truncates_and_pads():
    x = np.ones((3, 4, 25, 3), np.float32)
    m = np.ones((3, 4), bool)
    assert pad_persons(x, m, 2)[0].shape[0] == 2
    px, pm = pad_persons(x[:1], m[:1], 2)
    assert px.shape[0] == 2 and not pm[1].any() and np.all(px[1] == 0)


def test_normalization_config_round_trip_and_validation():
    cfg = Normalization(center="frame", scale="none", align=True, frames=64, persons=2)
    assert Normalization.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(SkelrecError, match="unknown normalization fields"):
        Normalization.from_dict({"centre": "frame"})
    with pytest.raises(SkelrecError, match=r"normalization\.center"):
        Normalization(center="hips")


def test_mirrored_world_of_another_layout_swaps_that_layouts_sides():
    """A pose file from another estimator (here ntu25 in camera axes) mirrored: its own left/right pairs swap."""
    ntu = get_layout("ntu25")
    w = np.zeros((1, 1, 25, 3), np.float32)
    w[0, 0, ntu.index("left_shoulder")] = [0.2, -0.5, 0.0]  # on the image right, named left by the estimator
    w[0, 0, ntu.index("right_shoulder")] = [-0.2, -0.5, 0.0]
    out = from_mediapipe_world(w, mirrored=True, layout="ntu25")
    np.testing.assert_allclose(out[0, 0, ntu.index("right_shoulder")], [0.2, 0.5, 0.0])
    np.testing.assert_allclose(out[0, 0, ntu.index("left_shoulder")], [-0.2, 0.5, 0.0])
