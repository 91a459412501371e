"""skelrec teach: few-shot classifiers from a handful of clips (skelrec.teach, the few-shot heads, ``skelrec teach``).

The base models are tiny transformers built here with random weights (and one tiny MacDiff export with its diffusion
decoder); the examples are synthetic MediaPipe pose files of three arm movements, and for the real path, videos of
scikit-image's public-domain astronaut photo run through the real MediaPipe.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from test_labeling import posture
from typer.testing import CliRunner

from skelrec.cli import app
from skelrec.errors import SkelrecError
from skelrec.hub import architecture, load_model, save_checkpoint
from skelrec.labeling import Labeler
from skelrec.models import Classifier, KnnHead, KnnHeadConfig, PrototypeHead, PrototypeHeadConfig, build_encoder
from skelrec.pose import PoseSequence
from skelrec.ssl.base import InputSpec, build_method
from skelrec.teach import (
    UNKNOWN_LABEL,
    ClipSet,
    FitContext,
    HeldOutScores,
    TeachBase,
    TeachSettings,
    assign_folds,
    build_teach_method,
    calibrate_threshold,
    cross_validate,
    find_actions,
    teach,
)
from skelrec.video import write_video

CLIP = 16
FPS = 20.0
MOVES = {"raise_left": ("up", "down"), "raise_right": ("down", "up"), "both_up": ("up", "up")}
NORMALIZATION = {"center": "sequence", "scale": "torso", "align": False}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny models on a busy 2-core machine: one thread is several times faster than two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------------------------------
# Synthetic examples and base models.
# ------------------------------------------------------------------------------------------------------------------


def movement(
    move: str | None, seconds: float = 2.0, *, seed: int = 0, present: bool = True, fps: float = FPS
) -> PoseSequence:
    """MediaPipe poses of one person lifting the arms of ``move`` and lowering them again, about once a second
    (``move=None``: standing still); ``present=False``: nobody in any frame."""
    rng = np.random.default_rng(seed)
    rest = posture("down", "down")
    goal = posture(*MOVES[move]) if move else rest
    t = np.arange(round(seconds * fps)) / fps
    mix = (0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(0.8, 1.2) * t))[:, None, None]
    world = ((rest + (goal - rest) * mix) * rng.uniform(0.9, 1.1))[None].astype(np.float32)
    world += rng.normal(0, 0.01, world.shape).astype(np.float32)
    frames = world.shape[1]
    seen = np.full((1, frames), present)
    world[~seen] = 0
    image = np.where(seen[..., None, None], world * 0.35 + 0.5, 0).astype(np.float32)
    return PoseSequence(
        image=image,
        world=world,
        visibility=np.where(seen[..., None], 0.9, 0.0) * np.ones((1, frames, 33), np.float32),
        present=seen,
        times=t,
        frame_index=np.arange(frames),
        fps=fps,
        width=256,
        height=256,
    )


def write_examples(root: Path, clips: dict[str, list[PoseSequence]]) -> Path:
    """``root/<folder>/clip<i>.npz`` for every folder name and its pose sequences."""
    for folder, sequences in clips.items():
        for i, poses in enumerate(sequences):
            poses.save(root / folder / f"clip{i}.npz")
    return root


def three_moves(root: Path, per_action: int = 3) -> Path:
    clips = {move: [movement(move, seed=10 * i + k) for i in range(per_action)] for k, move in enumerate(MOVES)}
    return write_examples(root, clips)


def base_config(encoder: torch.nn.Module, **fields) -> dict:
    return {
        **architecture(encoder),
        "layout": "kinect20",
        "normalization": NORMALIZATION,
        "clip_length": CLIP,
        "num_persons": 1,
        "labels": None,
        **fields,
    }


def tiny_encoder() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_encoder(
        "transformer", in_channels=3, num_joints=20, num_frames=CLIP, depth=1, embed_dim=16, num_heads=2
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pretrained-encoder checkpoint (random weights): Kinect v1 layout, 16 frames, one person."""
    encoder = tiny_encoder()
    return save_checkpoint(tmp_path_factory.mktemp("base") / "encoder", encoder.state_dict(), base_config(encoder))


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return three_moves(tmp_path_factory.mktemp("examples"))


@pytest.fixture(scope="module")
def taught(base: Path, examples: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("taught") / "model"
    return out, teach(examples, out, base=base, device="cpu", command="skelrec teach examples --out model")


# ------------------------------------------------------------------------------------------------------------------
# The examples folder.
# ------------------------------------------------------------------------------------------------------------------


def test_action_folders_are_labelled_by_name(tmp_path: Path):
    for folder in ("jumping__jack", "Bow", ".poses"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.mp4").write_bytes(b"")
    (tmp_path / "Bow" / "notes.txt").write_text("not a clip")
    actions = find_actions(tmp_path)
    assert [a.label for a in actions] == ["Bow", "jumping jack"]
    assert [p.name for p in actions[0].clips] == ["a.mp4"]


@pytest.mark.parametrize(
    ("folders", "message"),
    [
        (["wave", "Wave_"], r"wave: action name 'wave' names the same action as folder 'Wave_'"),
        (["t-pose", "T pose"], r"names the same action as folder"),
        (["___", "wave"], r"___: the folder name gives an empty action name"),
        (["Unknown", "wave"], r"Unknown: action name 'Unknown' is reserved"),
    ],
)
def test_bad_action_names_are_refused(tmp_path: Path, folders: list[str], message: str):
    for folder in folders:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.npz").write_bytes(b"")
    with pytest.raises(SkelrecError, match=message):
        find_actions(tmp_path)


def test_an_action_folder_without_clips_and_loose_clips_are_refused(tmp_path: Path):
    (tmp_path / "wave").mkdir()
    (tmp_path / "wave" / "readme.txt").write_text("x")
    with pytest.raises(SkelrecError, match=r"wave: no usable clip for action 'wave': no video"):
        find_actions(tmp_path)
    (tmp_path / "clip.mp4").write_bytes(b"")
    with pytest.raises(SkelrecError, match=r"clips outside an action folder \(clip.mp4\)"):
        find_actions(tmp_path)


# ------------------------------------------------------------------------------------------------------------------
# Heads, held-out scores and the open-set threshold, by hand.
# ------------------------------------------------------------------------------------------------------------------


def test_prototype_head_scores_cosine_and_says_unknown_below_the_threshold():
    head = PrototypeHead(PrototypeHeadConfig(in_dim=2, num_classes=2, temperature=0.5, unknown_threshold=0.8))
    head.prototypes.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    x = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, -3.0]])  # cos to the prototypes: (1, 0), (.707, .707), (0, -1)
    logits = head(x)
    assert logits.shape == (3, 3)
    np.testing.assert_allclose(logits[:, :2], [[2.0, 0.0], [1.4142, 1.4142], [0.0, -2.0]], atol=1e-4)
    np.testing.assert_allclose(logits[:, 2], 0.8 / 0.5)  # the unknown logit of a prototype head is constant
    assert logits.argmax(1).tolist() == [0, 2, 2]


def test_knn_head_votes_and_measures_the_nearest_example():
    cfg = KnnHeadConfig(in_dim=2, num_classes=2, num_examples=3, k=2, temperature=1.0, unknown_threshold=0.9)
    head = KnnHead(cfg)
    head.bank.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    head.bank_labels.copy_(torch.tensor([0, 1, 1]))
    x = torch.tensor([[1.0, 0.1], [-1.0, -1.0]])
    sims = head.similarities(x)
    np.testing.assert_allclose(sims, [[0.995, 0.0995], [-0.7071, 0.7071]], atol=1e-3)
    logits = head(x)
    # row 0: neighbours 0 (cos .995, class 0) and 1 (cos .0995, class 1): log-votes = the similarities
    np.testing.assert_allclose(logits[0, :2], [0.995, 0.0995], atol=1e-3)
    assert logits.argmax(1).tolist() == [0, 2]  # row 1: nearest example at cos .707 < 0.9 -> unknown


def hand_clips(embeddings: list[list[float]], labels: list[int]) -> ClipSet:
    return ClipSet.of_features(torch.tensor(embeddings), torch.tensor(labels))


def test_leave_one_out_accuracy_by_hand():
    """A: (1, 0), (0.9, 0.1), (0, 1); B: (0.1, 0.9), (0, 1); C: one clip. Held out, A's (0, 1) is nearer B's
    prototype than the mean of A's other two: 2/3 for A, 2/2 for B, C not counted -> 4/5."""
    clips = hand_clips([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0, 1], [-1, -1]], [0, 0, 0, 1, 1, 2])
    ctx = FitContext(("A", "B", "C"))
    held = cross_validate(build_teach_method("prototype", center=False), clips, ctx)
    assert held is not None and held.folds == 6 and held.leave_one_out
    assert held.correct.tolist() == [True, True, False, True, True, False]
    assert held.accuracy == pytest.approx(0.8)
    assert [(a.label, a.clips, a.correct) for a in held.per_action(["A", "B", "C"])] == [
        ("A", 3, 2),
        ("B", 2, 2),
        ("C", 1, None),
    ]
    # own-class similarity of A's third clip: cos((0, 1), normalize((1, 0) + normalize((0.9, 0.1))))
    proto = torch.nn.functional.normalize(
        torch.tensor([1.0, 0]) + torch.nn.functional.normalize(torch.tensor([0.9, 0.1]), dim=0), dim=0
    )
    assert held.own_similarities()[2] == pytest.approx(float(proto[1]), abs=1e-5)


def test_folds_hold_out_generated_copies_with_their_original():
    assert assign_folds(np.array([1, 0, 1, 0, 1]), None).tolist() == [0, 1, 2, 3, 4]
    assert assign_folds(np.array([1, 0, 1, 0, 1]), 2).tolist() == [0, 0, 1, 1, 0]  # round-robin in label order
    clips = hand_clips([[1, 0], [0, 1], [1, 0.1], [0.1, 1]], [0, 1, 0, 1])
    copy = hand_clips([[0, 1]], [0])  # a copy of clip 0 that looks like class 1: must leave with clip 0
    copy.source[:] = 0
    copy.original[:] = False
    train, test = clips.concat(copy).split(torch.tensor([0]))
    assert test.source.tolist() == [0] and train.source.tolist() == [1, 2, 3]


def test_open_set_threshold_rule():
    sims = np.array([[0.9, 0.1], [0.7, 0.2], [0.2, 0.8], [0.1, 0.6]], np.float32)
    held = HeldOutScores(np.array([0, 0, 1, 1]), sims, sims, folds=4)  # own similarities 0.9, 0.7, 0.8, 0.6
    t = calibrate_threshold(held)
    assert t.threshold == pytest.approx(0.4 * 0.6) and t.clips == 4 and t.lowest == pytest.approx(0.6)  # default
    assert calibrate_threshold(held, ratio=0.8).threshold == pytest.approx(0.8 * 0.6)
    unlike = HeldOutScores(np.array([0, 0]), np.array([[0.9], [-0.2]]), np.array([[0.9], [-0.2]]), folds=2)
    assert calibrate_threshold(unlike).threshold == 0.0  # an example unlike its own action: accept what is related
    with pytest.raises(SkelrecError, match="ratio must be in"):
        calibrate_threshold(held, ratio=1.5)
    single = HeldOutScores(np.array([0, 1]), np.eye(2), np.eye(2), folds=2)
    with pytest.raises(SkelrecError, match="at least two clips"):
        calibrate_threshold(single)


def person_embeddings(centres: torch.Tensor, person: torch.Tensor, clips: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Features of ``clips`` clips of every action ``centres`` ``(K, D)`` by one person: the action, the person's
    own style ``person`` ``(D,)`` (the same in every action, as body size and habits are) and a little noise."""
    g = torch.Generator().manual_seed(seed)
    k, dim = centres.shape
    x = centres.repeat_interleave(clips, 0) + person + 0.05 * torch.randn(k * clips, dim, generator=g)
    return x, torch.arange(k).repeat_interleave(clips)


def test_threshold_accepts_a_taught_action_by_another_person_and_rejects_a_far_clip():
    """Taught from 3 tight clips of one person, the same actions by another person (another style offset) are far
    less similar than the examples are to each other -- yet they must be accepted; an untaught action must not."""
    g = torch.Generator().manual_seed(0)
    dim = 128
    centres = torch.randn(4, dim, generator=g)  # 3 taught actions + 1 never taught
    alice, bob = 0.6 * torch.randn(dim, generator=g), 0.6 * torch.randn(dim, generator=g)
    x, y = person_embeddings(centres[:3], alice, 3, seed=1)
    method, ctx = build_teach_method("prototype"), FitContext(("a", "b", "c"))
    support = ClipSet.of_features(x, y)
    held = cross_validate(method, support, ctx)
    threshold = calibrate_threshold(held)
    head = method.fit(support, ctx, unknown_threshold=threshold.threshold)
    bob_x, bob_y = person_embeddings(centres[:3], bob, 5, seed=2)
    far_x, _ = person_embeddings(centres[3:], bob, 5, seed=3)
    with torch.no_grad():
        assert head(bob_x).argmax(1).tolist() == bob_y.tolist()  # accepted, and right
        assert (head(far_x).argmax(1) == 3).all()  # "unknown"
        bob_sims = head.similarities(bob_x).max(1).values
    own = held.own_similarities()
    former = own.mean() - max(own.std(), 0.05)  # the former rule: the tightest same-person spread
    assert (bob_sims.numpy() < former).all()  # ... which called every clip of the other person unknown


def test_leave_one_person_out_holds_out_every_person_at_once():
    """A and B by alice and by bob, C by alice only. With alice held out, her A and B are classified by bob's
    clips alone; her C leaves no clip of C behind, so it is not counted."""
    clips = hand_clips([[1, 0], [0, 1], [1, 0.2], [0.2, 1], [-1, -1]], [0, 1, 0, 1, 2])
    persons = np.array(["alice", "alice", "bob", "bob", "alice"])
    held = cross_validate(
        build_teach_method("prototype", center=False), clips, FitContext(("A", "B", "C")), groups=persons
    )
    assert held is not None and held.folds == 2 and held.grouped and not held.leave_one_out
    assert held.counted.tolist() == [True, True, True, True, False]
    assert held.accuracy == 1.0
    two = hand_clips([[1, 0], [0, 1]], [0, 1])
    alone = cross_validate(build_teach_method("prototype"), two, FitContext(("A", "B")), groups=np.array(["a", "b"]))
    assert alone is None  # no action by two persons: nothing to measure


# ------------------------------------------------------------------------------------------------------------------
# teach: the checkpoint it writes.
# ------------------------------------------------------------------------------------------------------------------


def test_taught_folder_is_an_ordinary_checkpoint(taught, base: Path):
    out, result = taught
    model, config = load_model(out)  # strict: every key, every shape
    assert isinstance(model, Classifier) and isinstance(model.head, PrototypeHead)
    assert list(config.labels) == ["both up", "raise left", "raise right", UNKNOWN_LABEL]
    assert config.head.config["unknown_threshold"] == pytest.approx(result.open_set.threshold)
    assert config.head.config["pooling"] == config.extra["teach"]["pooling"] == "joints"  # the default feature
    assert config.head.config["in_dim"] == 20 * 16  # 20 joint tokens x 16
    assert config.clip_seconds == pytest.approx(2.0)
    encoder, _ = load_model(base)
    for key, value in encoder.state_dict().items():  # the base encoder, untouched
        torch.testing.assert_close(model.state_dict()[f"encoder.{key}"], value)
    teach_section = config.extra["teach"]
    assert [a["clips"] for a in teach_section["actions"]] == [["clip0.npz", "clip1.npz", "clip2.npz"]] * 3
    assert teach_section["held_out"]["folds"] == 9
    card = (out / "README.md").read_text()
    for text in (
        "## Taught actions",
        "| raise left | 3 | 6.0 |",
        "leave-one-out",
        "Open set",
        "skelrec teach examples",
    ):
        assert text in card


def test_card_records_the_training_data_and_says_what_held_out_accuracy_means(taught):
    out, result = taught
    config = load_model(out)[1]
    card = (out / "README.md").read_text()
    assert "Not recorded" not in card and "1 persons" not in card
    assert "Input: `kinect20` skeletons (20 joints), 16 frames, 1 person," in card
    examples = config.training["data"][0]
    assert examples["id"] == "examples" and examples["name"] == (
        "Example clips taught with `skelrec teach`: 3 action(s), 9 clips, 18.0 s in total (both up: 3 clips, 6.0 s, "
        "raise left: 3 clips, 6.0 s, raise right: 3 clips, 6.0 s); poses by `mediapipe` (frame stride 1); persons "
        "not named (clips named PERSON__clip.mp4 say who is in them)"
    )
    assert "## Training data and terms" in card and examples["name"] in card
    assert config.extra["teach"]["durations_seconds"] == {"both up": 6.0, "raise left": 6.0, "raise right": 6.0}
    caveat = "held-out accuracy over your own clips: it shows how well they agree with each other; other people may"
    assert caveat in card and caveat in result.describe() and caveat in config.extra["teach"]["held_out"]["meaning"]
    assert result.cross_person is None and config.extra["teach"]["leave_one_person_out"] is None


def test_clips_named_by_person_give_a_leave_one_person_out_accuracy(base: Path, tmp_path: Path):
    clips = {move: [movement(move, seed=10 * i + k) for i in range(4)] for k, move in enumerate(MOVES)}
    for move, sequences in clips.items():
        for i, poses in enumerate(sequences):
            poses.save(tmp_path / "examples" / move / f"{('alice', 'bob')[i % 2]}__clip{i}.npz")
    result = teach(tmp_path / "examples", tmp_path / "model", base=base, device="cpu")
    assert sorted(set(result.persons)) == ["alice", "bob"]
    assert result.cross_person is not None and result.cross_person.folds == 2 and result.cross_person_accuracy == 1.0
    assert "with each of the 2 persons held out in turn (taught from the others' clips) it is 100.0 %" in (
        result.describe()
    )
    config = load_model(tmp_path / "model")[1]
    assert config.extra["teach"]["leave_one_person_out"]["accuracy"] == 1.0
    assert [m["protocol"] for m in config.metrics] == ["leave-one-out", "leave-one-person-out"]
    assert "2 named person(s): alice, bob" in config.training["data"][0]["name"]


def test_taught_model_labels_a_clip(taught):
    out, result = taught
    assert result.accuracy == 1.0  # the three movements are far apart even for a random encoder
    labeler = Labeler.from_pretrained(out, device="cpu")
    result = labeler.label_poses(movement("raise_right", seconds=2, seed=99))  # one window, as long as an example
    assert [d.label for d in result.decisions] == ["raise right"]
    assert labeler.model_info()["clip_seconds"] == pytest.approx(2.0)


def transformed(poses: PoseSequence, scale: tuple[float, float, float]) -> PoseSequence:
    """``poses`` with its world landmarks scaled per axis (another body shape; ``-1`` on y: upside down)."""
    world = poses.world * np.array(scale, np.float32)
    image = np.where(poses.present[..., None, None], world * 0.35 + 0.5, 0).astype(np.float32)
    return dataclasses.replace(poses, world=world, image=image)


def test_open_set_labels_a_far_clip_unknown_and_accepts_another_body(taught):
    out, _ = taught
    model, _ = load_model(out)
    base = TeachBase.load(out, device="cpu")
    near = base.model_inputs([base.skeleton(movement("raise_left", seed=7))])
    other_body = transformed(movement("raise_left", seed=7), (1.15, 0.9, 1.0))  # broader, shorter person
    handstand = transformed(movement(None, seed=7), (1.0, -1.0, 1.0))  # upside down: like no taught action
    with torch.no_grad():
        assert model(*near).argmax(1).item() == 1
        assert model(*base.model_inputs([base.skeleton(other_body)])).argmax(1).item() == 1
        assert model(*base.model_inputs([base.skeleton(handstand)])).argmax(1).item() == 3  # "unknown"
    labeler = Labeler.from_pretrained(out, device="cpu")  # the labeler needs no hook: "unknown" is the last label
    assert [d.label for d in labeler.label_poses(handstand).decisions] == [UNKNOWN_LABEL]


@pytest.mark.parametrize(("method", "head"), [("knn", "knn"), ("linear", "linear")])
def test_other_frozen_encoder_methods(base: Path, examples: Path, tmp_path: Path, method: str, head: str):
    result = teach(examples, tmp_path / method, base=base, settings=TeachSettings(method=method), device="cpu")
    _, config = load_model(tmp_path / method)
    assert config.head.name == head and result.held_out is not None and result.held_out.folds == 9
    assert (UNKNOWN_LABEL in config.labels) == (method == "knn")  # open set by default for similarity methods
    taught = TeachBase.load(tmp_path / method, device="cpu")  # the taught model's own input pipeline
    x, mask = taught.model_inputs([taught.skeleton(movement("both_up", seed=97))])
    model = Classifier(taught.encoder, taught.loaded.model.head)
    with torch.no_grad():
        assert model(x, mask)[:, :3].argmax(1).tolist() == [0]  # "both up" among the three taught actions


def test_a_pooled_feature_is_taught_recorded_and_applied_when_labelling(base: Path, examples: Path, tmp_path: Path):
    from skelrec.models.pooling import SEGMENTS

    result = teach(
        examples, tmp_path / "grid", base=base, settings=TeachSettings(pooling="segment_joints"), device="cpu"
    )
    assert result.accuracy == 1.0
    _, config = load_model(tmp_path / "grid")
    assert config.head.config["pooling"] == config.extra["teach"]["pooling"] == "segment_joints"
    assert config.head.config["in_dim"] == SEGMENTS * 20 * 16  # 4 ordered segments x 20 joint tokens x 16
    assert "the `segment_joints` feature of the encoder" in (tmp_path / "grid" / "README.md").read_text()
    labeler = Labeler.from_pretrained(tmp_path / "grid", device="cpu")
    assert [d.label for d in labeler.label_poses(movement("raise_left", seed=98)).decisions] == ["raise left"]


def test_pooling_is_checked_and_only_for_frozen_encoder_methods():
    with pytest.raises(SkelrecError, match="unknown pooling 'max'"):
        TeachSettings(pooling="max")
    with pytest.raises(SkelrecError, match="--pooling is for the methods on frozen features: prototype, knn, linear"):
        TeachSettings(method="finetune", pooling="joints")


def test_settings_refuse_no_copies_and_no_diffusion_steps():
    with pytest.raises(SkelrecError, match=r"copies \(0\) and diffusion steps \(50\) must be >= 1"):
        TeachSettings(copies=0)
    with pytest.raises(SkelrecError, match=r"copies \(4\) and diffusion steps \(0\) must be >= 1"):
        TeachSettings(diffusion_steps=0, pooling="segments")


def test_finetune_trains_encoder_and_head(base: Path, tmp_path: Path):
    examples = write_examples(tmp_path / "ex", {m: [movement(m, seed=i) for i in range(2)] for m in list(MOVES)[:2]})
    settings = TeachSettings(method="finetune", method_options={"epochs": 2, "batch_size": 2})
    result = teach(examples, tmp_path / "ft", base=base, settings=settings, device="cpu")
    model, config = load_model(tmp_path / "ft")
    assert config.head.name == "mamp_finetune" and list(config.labels) == ["raise left", "raise right"]
    assert result.held_out is not None and result.held_out.folds == 4 and result.protocol == "leave-one-out"
    encoder, _ = load_model(base)
    changed = [k for k, v in encoder.state_dict().items() if not torch.equal(model.state_dict()[f"encoder.{k}"], v)]
    assert changed  # fine-tuned


def test_skeleton_augmentation_multiplies_the_examples(base: Path, examples: Path, tmp_path: Path):
    settings = TeachSettings(augment=True, copies=2)
    result = teach(examples, tmp_path / "aug", base=base, settings=settings, device="cpu")
    assert (result.augment, result.copies) == ("skeleton", 2)
    assert json.loads((tmp_path / "aug" / "config.json").read_text())["teach"]["augment"] == {
        "kind": "skeleton",
        "copies": 2,
    }


def test_diffusion_augmentation_with_a_macdiff_base(examples: Path, tmp_path: Path):
    options = {"decoder_dim": 16, "decoder_depth": 1, "decoder_heads": 2, "diffusion_steps": 100}
    method = build_method("macdiff", tiny_encoder(), InputSpec("kinect20", CLIP, 1, 3), **options)
    macdiff = save_checkpoint(
        tmp_path / "macdiff",
        method.export_state(),
        base_config(method.encoder, method={"name": "macdiff", "kwargs": options}),
    )
    settings = TeachSettings(augment=True, copies=2, diffusion_steps=2)
    result = teach(examples, tmp_path / "aug", base=macdiff, settings=settings, device="cpu")
    assert (result.augment, result.copies) == ("diffusion", 2)
    load_model(tmp_path / "aug")  # the decoder stays out of the taught model


# ------------------------------------------------------------------------------------------------------------------
# teach: errors.
# ------------------------------------------------------------------------------------------------------------------


def test_clips_without_a_person_are_skipped_and_an_action_without_any_is_an_error(base: Path, tmp_path: Path):
    clips = {m: [movement(m, seed=i) for i in range(2)] for m in ("raise_left", "raise_right")}
    clips["raise_left"].append(movement("raise_left", present=False))
    result = teach(write_examples(tmp_path / "a", clips), tmp_path / "out", base=base, device="cpu")
    assert [(s.path.name, s.reason) for s in result.skipped] == [("clip2.npz", "no person found")]
    assert "skipped" in result.describe() and "clip2.npz" in (tmp_path / "out" / "README.md").read_text()
    clips["raise_right"] = [movement("raise_right", present=False)]
    with pytest.raises(SkelrecError, match=r"raise_right: no usable clip for action 'raise right': no person found"):
        teach(write_examples(tmp_path / "b", clips), tmp_path / "out2", base=base, device="cpu")


def test_one_action_needs_open_set(base: Path, tmp_path: Path):
    examples = write_examples(tmp_path / "ex", {"wave": [movement("raise_left", seed=i) for i in range(2)]})
    with pytest.raises(SkelrecError, match=r"only one action \('wave'\); a closed-set classifier needs two"):
        teach(examples, tmp_path / "out", base=base, settings=TeachSettings(open_set=False), device="cpu")
    result = teach(examples, tmp_path / "out", base=base, device="cpu")  # open set: "wave" or "unknown"
    assert result.labels == ["wave", UNKNOWN_LABEL]


def test_open_set_needs_a_similarity_method_and_two_clips_of_an_action(base: Path, examples: Path, tmp_path: Path):
    with pytest.raises(SkelrecError, match=r"open set .* needs a similarity method \(prototype, knn\), not linear"):
        teach(examples, tmp_path / "o", base=base, settings=TeachSettings(method="linear", open_set=True))
    single = write_examples(tmp_path / "ex", {m: [movement(m)] for m in ("raise_left", "raise_right")})
    with pytest.raises(SkelrecError, match=r"every action has one; add a second clip .* or .*--closed-set"):
        teach(single, tmp_path / "o", base=base, device="cpu")
    result = teach(single, tmp_path / "o", base=base, settings=TeachSettings(open_set=False), device="cpu")
    assert result.held_out is None and "n/a (one clip)" in result.describe()


def test_a_clip_too_short_for_the_model_is_named(base: Path, tmp_path: Path):
    clips = {m: [movement(m, seed=i) for i in range(2)] for m in ("raise_left", "raise_right")}
    clips["raise_right"].append(movement("raise_right", seconds=0.15))  # 3 frames; the model needs ceil(16 / 4)
    with pytest.raises(SkelrecError, match=r"raise_right/clip2.npz: a person is seen in only 3 frame\(s\).*at least 4"):
        teach(write_examples(tmp_path / "ex", clips), tmp_path / "out", base=base, device="cpu")


def test_a_base_model_without_an_encoder_is_refused(examples: Path, tmp_path: Path):
    folder = tmp_path / "broken"
    folder.mkdir()
    config = {
        "format_version": 1,
        "skelrec_version": "0.1.0",
        "encoder": None,
        "head": None,
        "layout": "kinect20",
        "normalization": NORMALIZATION,
        "clip_length": CLIP,
        "num_persons": 1,
        "labels": None,
    }
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(SkelrecError, match=r"cannot use base model .*broken: .*\"encoder\" must be"):
        teach(examples, tmp_path / "out", base=folder, device="cpu")


# ------------------------------------------------------------------------------------------------------------------
# The command, and the real path: videos through MediaPipe.
# ------------------------------------------------------------------------------------------------------------------


def test_cli_teach(base: Path, examples: Path, tmp_path: Path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app,
        [
            "teach",
            str(examples),
            "--out",
            str(out),
            "--base",
            str(base),
            "--method",
            "knn",
            "--closed-set",
            "--pooling",
            "joints",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "taught 3 action(s) from 9 clip(s) with knn (closed set)" in result.output
    assert "leave-one-out accuracy: 100.0 %" in result.output
    config = load_model(out)[1]
    assert (
        list(config.labels) == ["both up", "raise left", "raise right"] and config.extra["teach"]["pooling"] == "joints"
    )


def astronaut_clip(path: Path, motion: str, seconds: float = 1.2, fps: float = 15, seed: int = 0) -> Path:
    """The astronaut photo filmed by a camera that sways sideways (``sway``) or tilts (``tilt``)."""
    from PIL import Image
    from skimage.data import astronaut

    img = Image.fromarray(astronaut())
    speed = 1.0 + 0.2 * seed

    def frames() -> Iterator[np.ndarray]:
        for i in range(round(seconds * fps)):
            a = np.sin(2 * np.pi * speed * i / fps)
            view = img.rotate(25 * a, center=(256, 200)) if motion == "tilt" else img
            dx = round(30 * a) if motion == "sway" else 0
            yield np.asarray(view.crop((30 + dx, 10, 480 + dx, 460)).resize((192, 192)))

    return write_video(path, frames(), fps=fps)


@pytest.mark.slow
def test_teach_from_real_videos(base: Path, tmp_path: Path):
    examples = tmp_path / "examples"
    for motion in ("sway", "tilt"):
        (examples / motion).mkdir(parents=True)
        for seed in range(2):
            astronaut_clip(examples / motion / f"{motion}{seed}.mp4", motion, seed=seed)
    out = tmp_path / "model"
    result = teach(examples, out, base=base, device="cpu")
    assert [a.clips for a in result.actions] == [2, 2] and not result.skipped
    assert result.held_out is not None and result.held_out.folds == 4
    assert len(list((out / ".poses").glob("*.npz"))) == 4  # cached like `skelrec label` does
    labeler = Labeler.from_pretrained(out, device="cpu", pose_cache=out / ".poses")
    labels = labeler.label(examples / "tilt" / "tilt0.mp4")
    assert labels.pose.frames_with_person == labels.pose.frames_processed == 18
    assert {s.label for s in labels.segments} <= {"sway", "tilt", UNKNOWN_LABEL, "no action"}
