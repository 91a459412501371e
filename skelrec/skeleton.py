"""Skeleton layouts, conversions between them, and the one array convention of skelrec.

The convention
--------------
A skeleton sequence is a float32 array shaped ``(M, T, V, C)``:

* ``M`` persons, ``T`` frames, ``V`` joints (ordered as the sample's :class:`Layout`), ``C`` channels.
* Channels are ``x, y, z`` (``C == 3``), optionally followed by a per-joint confidence (``C == 4``).
  2D data (e.g. ``coco17`` from an image estimator) uses ``x, y`` (+ confidence) and is marked ``C == 2``/``3`` by
  the caller: layouts do not fix the channel count.
* Axes are the Kinect camera axes used by NTU RGB+D and the other Kinect datasets: metres, **y up**, **z away
  from the camera**, **x towards the subject's right** when the subject faces the camera (Kinect images are
  mirrored, so on a Kinect colour frame +x is the image right). MediaPipe output is brought into these axes by
  :func:`from_mediapipe_world`.
* A batch adds ``N`` in front: ``(N, M, T, V, C)``.
* Absent persons and frames are zeros; a boolean mask ``(M, T)`` (batch ``(N, M, T)``) says which are real.
  :func:`valid_mask` recovers it from zero padding.
* Joint names are anatomical: ``left_*`` is the subject's own left side, whatever the image shows.

Everything here is plain NumPy so the datasets, the labeler and the training code share it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

from skelrec.errors import SkelrecError
from skelrec.registry import Registry

__all__ = [
    "LAYOUTS",
    "Layout",
    "Normalization",
    "conversion_matrix",
    "convert",
    "from_mediapipe_world",
    "get_layout",
    "normalize",
    "pad_persons",
    "resample_frames",
    "valid_mask",
]

REGIONS = ("head", "torso", "left_arm", "right_arm", "left_leg", "right_leg")


@dataclass(frozen=True)
class Layout:
    """A joint order: names, a kinematic tree, and the points that define body centre and torso.

    Args:
        name: registry key, e.g. ``"ntu25"``.
        joints: joint names in array order (anatomical sides, see module docstring).
        parents: parent index of every joint (``-1`` for the root): the bones are ``(j, parents[j])``.
        center: joints whose mean is the body centre (hip centre).
        torso_top: joints whose mean is the top of the torso (shoulder centre); torso length = |top - center|.
        used_by: datasets or estimators that produce this order (documentation).
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    center: tuple[str, ...]
    torso_top: tuple[str, ...]
    used_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.parents) != len(self.joints):
            raise ValueError(f"layout {self.name}: {len(self.parents)} parents for {len(self.joints)} joints")
        if len(set(self.joints)) != len(self.joints):
            raise ValueError(f"layout {self.name}: duplicate joint names")
        roots = [j for j, p in enumerate(self.parents) if p < 0]
        if len(roots) != 1:
            raise ValueError(f"layout {self.name}: expected exactly one root, got {roots}")
        for group in (self.center, self.torso_top):
            for n in group:
                self.index(n)

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, name: str) -> int:
        try:
            return self.joints.index(name)
        except ValueError:
            raise KeyError(f"layout {self.name} has no joint {name!r}") from None

    def indices(self, names: Sequence[str]) -> list[int]:
        return [self.index(n) for n in names]

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(child, parent) index pairs of the kinematic tree."""
        return [(j, p) for j, p in enumerate(self.parents) if p >= 0]

    @property
    def left_right_pairs(self) -> list[tuple[int, int]]:
        """(left, right) index pairs of mirror-symmetric joints, found by name."""
        pairs = []
        for j, n in enumerate(self.joints):
            if n.startswith("left_") and ("right_" + n[5:]) in self.joints:
                pairs.append((j, self.index("right_" + n[5:])))
        return pairs

    @property
    def flip_index(self) -> np.ndarray:
        """Permutation that swaps left and right joints: ``x[..., flip_index, :]`` relabels sides."""
        perm = np.arange(self.num_joints)
        for a, b in self.left_right_pairs:
            perm[a], perm[b] = b, a
        return perm

    @property
    def regions(self) -> dict[str, list[int]]:
        """The six body regions (head, torso, arms, legs) as joint indices, derived from joint names."""
        out: dict[str, list[int]] = {r: [] for r in REGIONS}
        for j, n in enumerate(self.joints):
            out[_region_of(n)].append(j)
        return out

    @property
    def adjacency(self) -> np.ndarray:
        """Symmetric (V, V) 0/1 adjacency of the bones, without self loops."""
        a = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for c, p in self.bones:
            a[c, p] = a[p, c] = 1.0
        return a


_HEAD_WORDS = ("head", "neck", "nose", "eye", "ear", "mouth")
_ARM_WORDS = ("elbow", "wrist", "hand", "thumb", "pinky", "index")
_LEG_WORDS = ("knee", "ankle", "foot", "heel")


def _region_of(joint: str) -> str:
    if joint.endswith("foot_index"):
        return ("left" if joint.startswith("left") else "right") + "_leg"
    if any(w in joint for w in _HEAD_WORDS):
        return "head"
    side = "left" if joint.startswith("left_") else "right" if joint.startswith("right_") else None
    if side and any(w in joint for w in _ARM_WORDS):
        return f"{side}_arm"
    if side and any(w in joint for w in _LEG_WORDS):
        return f"{side}_leg"
    return "torso"  # spine points, shoulders and hips


def _tree(joints: Sequence[str], edges: Mapping[str, str | None]) -> tuple[int, ...]:
    """Parent indices from a ``child -> parent`` name map."""
    return tuple(-1 if edges[n] is None else list(joints).index(edges[n]) for n in joints)


def _limbs(prefix: str, names: Sequence[str], root: str) -> dict[str, str]:
    """Chain ``root -> prefix+names[0] -> prefix+names[1] ...`` as child -> parent."""
    out, parent = {}, root
    for n in names:
        out[prefix + n] = parent
        parent = prefix + n
    return out


# Kinect v2 (NTU RGB+D, PKU-MMD): order of the .skeleton files (RECIPES.md "Joint order").
_NTU25 = (
    "spine_base", "spine_mid", "neck", "head",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
    "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",
)  # fmt: skip
_KINECT_TREE: dict[str, str | None] = {
    "spine_base": None, "spine_mid": "spine_base", "spine_shoulder": "spine_mid",
    "neck": "spine_shoulder", "head": "neck",
    **_limbs("left_", ("shoulder", "elbow", "wrist", "hand"), "spine_shoulder"),
    **_limbs("right_", ("shoulder", "elbow", "wrist", "hand"), "spine_shoulder"),
    **_limbs("left_", ("hip", "knee", "ankle", "foot"), "spine_base"),
    **_limbs("right_", ("hip", "knee", "ankle", "foot"), "spine_base"),
    "left_hand_tip": "left_hand", "left_thumb": "left_hand",
    "right_hand_tip": "right_hand", "right_thumb": "right_hand",
}  # fmt: skip
_KINECT20_TREE = {**_KINECT_TREE, "head": "spine_shoulder"}  # Kinect v1 has no neck joint

# Kinect v1 SDK order (NUI_SKELETON_POSITION_*): NW-UCLA, MSRC-12, MSR DailyActivity3D.
_KINECT20 = (
    "spine_base", "spine_mid", "spine_shoulder", "head",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
)  # fmt: skip
# UTD-MHAD: Skeleton/Skeleton_joint_order.txt of the dataset.
_UTD20 = ("head", "spine_shoulder", "spine_mid", "spine_base", *_KINECT20[4:])
# MSR Action3D: body_model.mat of the dataset (bones 7-4, 4-3, 3-20, 3-1, 3-2, 1-8, 2-9, ...; 1-based).
# Which of each symmetric pair is the subject's left was checked on the data (tests/test_datasets_kinect_v1.py).
_MSR20 = (
    "left_shoulder", "right_shoulder", "spine_shoulder", "spine_mid", "left_hip", "right_hip", "spine_base",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot", "head",
)  # fmt: skip

# MediaPipe Pose (BlazePose) 33 landmarks, in mediapipe.solutions.pose.PoseLandmark order.
_MP33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
_MP33_TREE: dict[str, str | None] = {
    "left_hip": None, "right_hip": "left_hip",
    "left_shoulder": "left_hip", "right_shoulder": "right_hip", "nose": "left_shoulder",
    "left_eye_inner": "nose", "left_eye": "left_eye_inner", "left_eye_outer": "left_eye", "left_ear": "left_eye_outer",
    "right_eye_inner": "nose", "right_eye": "right_eye_inner", "right_eye_outer": "right_eye",
    "right_ear": "right_eye_outer", "mouth_left": "nose", "mouth_right": "nose",
    **{f"{s}_{j}": f"{s}_{p}" for s in ("left", "right") for j, p in
       (("elbow", "shoulder"), ("wrist", "elbow"), ("pinky", "wrist"), ("index", "wrist"), ("thumb", "wrist"),
        ("knee", "hip"), ("ankle", "knee"), ("heel", "ankle"), ("foot_index", "ankle"))},
}  # fmt: skip

# COCO keypoints (HRNet, the PYSKL 2D protocol).
_COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
_COCO17_TREE = {k: v for k, v in _MP33_TREE.items() if k in _COCO17}
_COCO17_TREE |= {"left_eye": "nose", "right_eye": "nose", "left_ear": "left_eye", "right_ear": "right_eye"}

_SHOULDERS, _HIPS = ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")

LAYOUTS: Registry[Layout] = Registry("skeleton layout")


def register_layout(layout: Layout) -> Layout:
    return LAYOUTS.add(layout.name, layout)


register_layout(
    Layout(
        "ntu25",
        _NTU25,
        _tree(_NTU25, _KINECT_TREE),
        ("spine_base",),
        ("spine_shoulder",),
        ("NTU RGB+D 60/120", "PKU-MMD"),
    )
)
register_layout(
    Layout(
        "kinect20",
        _KINECT20,
        _tree(_KINECT20, _KINECT20_TREE),
        ("spine_base",),
        ("spine_shoulder",),
        ("NW-UCLA", "MSRC-12", "MSR DailyActivity3D"),
    )
)
register_layout(
    Layout("utd_mhad20", _UTD20, _tree(_UTD20, _KINECT20_TREE), ("spine_base",), ("spine_shoulder",), ("UTD-MHAD",))
)
register_layout(
    Layout(
        "msr_action3d20", _MSR20, _tree(_MSR20, _KINECT20_TREE), ("spine_base",), ("spine_shoulder",), ("MSR Action3D",)
    )
)
register_layout(Layout("mediapipe33", _MP33, _tree(_MP33, _MP33_TREE), _HIPS, _SHOULDERS, ("MediaPipe Pose",)))
register_layout(Layout("coco17", _COCO17, _tree(_COCO17, _COCO17_TREE), _HIPS, _SHOULDERS, ("COCO / HRNet",)))


def get_layout(layout: str | Layout) -> Layout:
    if isinstance(layout, Layout):
        return layout
    return LAYOUTS[layout]


# --------------------------------------------------------------------------------------------------------------
# Conversions. A conversion is a (V_dst, V_src) matrix of weights: each target joint is a weighted sum of source
# joints (a copy, or a midpoint for joints the source lacks). Same-name joints are copied automatically; the
# recipes below add the joints a source does not have.
# --------------------------------------------------------------------------------------------------------------

Recipe = Mapping[str, Mapping[str, float]]

_MP_TO_KINECT: Recipe = {
    "spine_base": {"left_hip": 0.5, "right_hip": 0.5},
    "spine_shoulder": {"left_shoulder": 0.5, "right_shoulder": 0.5},
    # Kinect's mid-spine sits a little above the middle of hip centre -> shoulder centre.
    "spine_mid": {"left_hip": 0.225, "right_hip": 0.225, "left_shoulder": 0.275, "right_shoulder": 0.275},
    # Head centre: mean of ears and eyes; the neck lies between shoulder centre and ears. Kinect's foot joint is
    # mid-foot, half-way from ankle to toes. Measured against Kinect on a paired NTU clip (head 0.043 -> 0.015,
    # feet 0.23/0.27 -> ~0.13 torso lengths in pixels): benchmarks/conversion_check.py, "recipe_candidates".
    "head": {"left_ear": 0.25, "right_ear": 0.25, "left_eye": 0.25, "right_eye": 0.25},
    "neck": {"left_shoulder": 0.3, "right_shoulder": 0.3, "left_ear": 0.2, "right_ear": 0.2},
    **{f"{s}_hand": {f"{s}_index": 0.5, f"{s}_pinky": 0.5} for s in ("left", "right")},
    **{f"{s}_hand_tip": {f"{s}_index": 1.0} for s in ("left", "right")},
    **{f"{s}_foot": {f"{s}_ankle": 0.5, f"{s}_foot_index": 0.5} for s in ("left", "right")},
}
_KINECT_TO_COCO: Recipe = {
    "nose": {"head": 1.0},
    **{f"{s}_{p}": {"head": 1.0} for s in ("left", "right") for p in ("eye", "ear")},
}

_RECIPES: dict[tuple[str, str], Recipe] = {
    ("mediapipe33", "ntu25"): _MP_TO_KINECT,
    ("mediapipe33", "kinect20"): _MP_TO_KINECT,
    ("ntu25", "coco17"): _KINECT_TO_COCO,
    ("kinect20", "coco17"): _KINECT_TO_COCO,
    ("utd_mhad20", "coco17"): _KINECT_TO_COCO,
    ("msr_action3d20", "coco17"): _KINECT_TO_COCO,
}


def _recipe_matrix(s: Layout, d: Layout) -> tuple[np.ndarray, list[str]]:
    """The weight matrix and the target joints that can be neither copied by name nor built by a recipe."""
    recipe = _RECIPES.get((s.name, d.name), {})
    w = np.zeros((d.num_joints, s.num_joints), dtype=np.float32)
    missing = []
    for i, name in enumerate(d.joints):
        if name in recipe:
            for src_name, weight in recipe[name].items():
                w[i, s.index(src_name)] += weight
        elif name in s.joints:
            w[i, s.index(name)] = 1.0
        else:
            missing.append(name)
    return w, missing


def conversion_matrix(src: str | Layout, dst: str | Layout) -> np.ndarray:
    """The (V_dst, V_src) weight matrix taking ``src`` joints to ``dst`` joints.

    Raises:
        SkelrecError: if some target joint can be neither copied by name nor built by a recipe.
    """
    s, d = get_layout(src), get_layout(dst)
    w, missing = _recipe_matrix(s, d)
    if missing:
        raise SkelrecError(
            f"cannot build layout {d.name} from {s.name}: no source for joints {', '.join(missing)}; "
            f"{s.name} data converts to: {', '.join(convertible_layouts(s.name))}"
        )
    return w


def convertible_layouts(src: str | Layout) -> list[str]:
    """Names of the layouts that can be built from ``src``."""
    s = get_layout(src)
    return [name for name, d in LAYOUTS.items() if not _recipe_matrix(s, d)[1]]


def convert(data: np.ndarray, src: str | Layout, dst: str | Layout) -> np.ndarray:
    """Convert ``(..., V_src, C)`` joints to ``(..., V_dst, C)``; zero (absent) frames stay zero.

    Confidence channels (C == 4) are combined with the same weights as coordinates.
    """
    s, d = get_layout(src), get_layout(dst)
    if data.shape[-2] != s.num_joints:
        raise SkelrecError(f"expected {s.num_joints} joints for layout {s.name}, got array of shape {data.shape}")
    if s.name == d.name:
        return data
    w = conversion_matrix(s, d)
    return np.einsum("uv,...vc->...uc", w, data).astype(data.dtype, copy=False)


def from_mediapipe_world(world: np.ndarray, *, mirrored: bool = False, layout: str = "mediapipe33") -> np.ndarray:
    """MediaPipe world landmarks ``(..., 33, 3+)`` (x image-right, y down, z away; metres) to skelrec axes.

    ``layout`` names the joints of ``world`` when they come from another estimator in the same camera axes (a pose
    ``.npz`` in ``coco17``, ``ntu25`` ...): its left/right pairs are the ones swapped on a mirrored video.

    skelrec axes have x towards the subject's right, y up, z away. On an ordinary (non-mirrored) video a subject
    facing the camera has their right on the image left, so x and y flip. On a mirrored video (a selfie preview,
    Kinect footage such as NTU RGB+D) the image right *is* the subject's right, and MediaPipe, which assumes an
    unmirrored image, names the sides the wrong way round: there x is kept and left/right labels are swapped.
    """
    out = np.array(world, dtype=np.float32, copy=True)
    if mirrored:
        out = out[..., get_layout(layout).flip_index, :]
    else:
        out[..., 0] *= -1.0
    out[..., 1] *= -1.0
    return out


# --------------------------------------------------------------------------------------------------------------
# Normalization shared by training and inference.
# --------------------------------------------------------------------------------------------------------------


def valid_mask(x: np.ndarray) -> np.ndarray:
    """``(..., T, V, C) -> (..., T)`` boolean: a frame is real when any joint coordinate is non-zero."""
    return np.any(x != 0, axis=(-1, -2))


@dataclass
class Normalization:
    """The transforms that turn a raw sequence into model input; stored in every checkpoint config.

    Attributes:
        center: ``"sequence"`` subtracts the body centre of the main person's first valid frame (CTR-GCN/MAMP),
            ``"frame"`` subtracts it in every frame (removes global translation), ``"none"`` keeps coordinates.
        scale: ``"torso"`` divides by the main person's mean torso length (centre -> shoulder centre), ``"none"``.
        align: rotate so the main person's first-frame spine is +y and shoulders are parallel to +x.
        frames: temporal length T after uniform resampling of the valid frames; 0 keeps the length.
        persons: number of persons M after padding/truncation; 0 keeps M.
    """

    center: Literal["sequence", "frame", "none"] = "sequence"
    scale: Literal["torso", "none"] = "torso"
    align: bool = False
    frames: int = 0
    persons: int = 0

    def __post_init__(self) -> None:
        if self.center not in ("sequence", "frame", "none"):
            raise SkelrecError(f"normalization.center must be sequence, frame or none, got {self.center!r}")
        if self.scale not in ("torso", "none"):
            raise SkelrecError(f"normalization.scale must be torso or none, got {self.scale!r}")
        if self.frames < 0 or self.persons < 0:
            raise SkelrecError("normalization.frames and normalization.persons must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Normalization:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SkelrecError(f"unknown normalization fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


def _joint_mean(x: np.ndarray, idx: list[int]) -> np.ndarray:
    return x[..., idx, :3].mean(axis=-2)


def _first_valid(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(T, ...)`` -> the entry of the first valid frame (or frame 0 when none is valid)."""
    t = int(np.argmax(mask)) if mask.any() else 0
    return x[t]


def _rotation_to_upright(spine: np.ndarray, shoulders: np.ndarray) -> np.ndarray | None:
    """Rotation (3, 3) whose rows are the new axes: spine -> +y, shoulder line -> +x (Gram-Schmidt)."""
    y = spine / (np.linalg.norm(spine) + 1e-8)
    x = shoulders - np.dot(shoulders, y) * y
    n = np.linalg.norm(x)
    if n < 1e-6 or np.linalg.norm(spine) < 1e-6:
        return None
    x = x / n
    z = np.cross(x, y)  # identity when x, y are already the axes
    return np.stack([x, y, z])


def normalize(x: np.ndarray, layout: str | Layout, cfg: Normalization) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``cfg`` to one sequence ``(M, T, V, C)``; returns ``(x, mask)`` with mask ``(M, T)``.

    Person 0 is the main person: centre, scale and rotation are computed from it and applied to everyone so
    that relative positions between persons survive. Padding frames/persons stay exactly zero.
    """
    lay = get_layout(layout)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[2] != lay.num_joints:
        raise SkelrecError(f"expected a (M, T, {lay.num_joints}, C) sequence for layout {lay.name}, got {x.shape}")
    x = x.copy()
    mask = valid_mask(x)
    ci, ti = lay.indices(lay.center), lay.indices(lay.torso_top)
    main_mask = mask[0]
    centre = _joint_mean(x[0], ci)  # (T, 3)
    if cfg.center == "sequence":
        x[..., :3] -= _first_valid(centre, main_mask)
    elif cfg.center == "frame":
        # persons follow the main person's centre; frames where it is absent use its nearest valid centre
        filled = _fill_invalid(centre, main_mask)
        x[..., :3] -= filled[None, :, None, :]
    if cfg.align and "left_shoulder" in lay.joints and "right_shoulder" in lay.joints:
        first = _first_valid(x[0], main_mask)  # (V, C), after centring
        spine = first[ti, :3].mean(0) - first[ci, :3].mean(0)
        shoulders = first[lay.index("right_shoulder"), :3] - first[lay.index("left_shoulder"), :3]
        rot = _rotation_to_upright(spine, shoulders)
        if rot is not None:
            x[..., :3] = x[..., :3] @ rot.T
    if cfg.scale == "torso":
        length = np.linalg.norm(_joint_mean(x[0], ti) - _joint_mean(x[0], ci), axis=-1)[main_mask]
        length = length[length > 1e-6]
        if length.size:
            x[..., :3] /= float(np.median(length))
    x[~mask] = 0.0
    if cfg.frames:
        x, mask = resample_frames(x, mask, cfg.frames)
    if cfg.persons:
        x, mask = pad_persons(x, mask, cfg.persons)
    return x, mask


def _fill_invalid(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Replace values of invalid frames by the value of the nearest valid frame. ``values`` is (T, ...)."""
    if mask.all() or not mask.any():
        return values
    valid_t = np.flatnonzero(mask)
    nearest = valid_t[np.abs(np.arange(len(mask))[:, None] - valid_t[None, :]).argmin(axis=1)]
    return values[nearest]


def resample_frames(x: np.ndarray, mask: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly resample the valid span of each sequence ``(M, T, V, C)`` to ``frames`` frames.

    The span from the first to the last frame where any person is present is stretched or squeezed to ``frames``;
    a person absent at a sampled time stays zero there.
    """
    any_valid = mask.any(axis=0)
    m, _, v, c = x.shape
    if not any_valid.any():
        return np.zeros((m, frames, v, c), np.float32), np.zeros((m, frames), bool)
    t0, t1 = int(np.argmax(any_valid)), len(any_valid) - int(np.argmax(any_valid[::-1])) - 1
    pos = np.linspace(t0, t1, frames)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t1)
    w = (pos - lo).astype(np.float32)[None, :, None, None]
    out = x[:, lo] * (1 - w) + x[:, hi] * w
    # nearest-neighbour validity; a frame interpolated towards an absent one keeps the present frame's values
    near = np.where(w[0, :, 0, 0] < 0.5, lo, hi)
    out_mask = mask[:, near]
    both = mask[:, lo] & mask[:, hi]
    out = np.where(both[..., None, None], out, x[:, near])
    out[~out_mask] = 0.0
    return out.astype(np.float32), out_mask


def pad_persons(x: np.ndarray, mask: np.ndarray, persons: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the first ``persons`` persons, zero-padding when there are fewer."""
    m = x.shape[0]
    if m >= persons:
        return x[:persons], mask[:persons]
    pad = np.zeros((persons - m, *x.shape[1:]), np.float32)
    return np.concatenate([x, pad]), np.concatenate([mask, np.zeros((persons - m, mask.shape[1]), bool)])
