"""benchmarks/fewshot.py's episodes: query windows, episode sampling, and that queries are scored by their own
embeddings (``--query-window``) while the heads are fitted on the whole support clips."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fewshot():
    spec = importlib.util.spec_from_file_location("fewshot_bench", ROOT / "benchmarks" / "fewshot.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_random_windows_are_contiguous_and_at_least_the_shortest_fraction(fewshot) -> None:
    clip = np.arange(40, dtype=np.float32)[None, :, None, None] * np.ones((2, 40, 3, 3), np.float32)  # frame index
    rng = np.random.default_rng(0)
    starts, lengths = set(), set()
    for _ in range(200):
        window = fewshot.random_window(clip, 0.5, rng)
        frames = window[0, :, 0, 0]
        assert window.shape[0] == 2 and 20 <= len(frames) <= 40
        assert np.array_equal(frames, np.arange(frames[0], frames[0] + len(frames)))  # contiguous, in order
        starts.add(int(frames[0]))
        lengths.add(len(frames))
    assert len(starts) > 10 and len(lengths) > 10  # random offsets and lengths
    assert fewshot.random_window(clip, 1.0, rng).shape == clip.shape  # 100 %: the whole clip


def test_episodes_draw_distinct_support_and_query_clips(fewshot) -> None:
    labels = np.repeat(np.arange(6), 8)
    support, support_y, query, query_y = fewshot.sample_episode(
        labels, list(range(6)), 5, 3, 4, np.random.default_rng(1)
    )
    assert len(support) == 15 and len(query) == 20 and not set(support) & set(query)
    assert sorted(set(support_y.tolist())) == sorted(set(query_y.tolist())) == [0, 1, 2, 3, 4]
    for y in range(5):  # episode label y is one dataset class, in support and query alike
        assert len(set(labels[support[support_y == y]]) | set(labels[query[query_y == y]])) == 1


def test_queries_are_scored_by_their_own_embeddings(fewshot) -> None:
    torch.manual_seed(0)
    labels = np.repeat(np.arange(5), 10)
    centres = torch.randn(5, 16) * 5
    whole = centres[labels] + 0.1 * torch.randn(50, 16)
    feats = fewshot.Features(whole, labels, [str(c) for c in range(5)])
    common = {"ways": 5, "shots": 3, "queries": 4, "episodes": 20, "seed": 0}
    assert np.mean(fewshot.closed_set_accuracy(feats, list(range(5)), "prototype", **common)) == 1.0
    shifted = centres[(labels + 1) % 5] + 0.1 * torch.randn(50, 16)  # every query looks like the next class
    feats = fewshot.Features(whole, labels, feats.classes, query_embeddings=shifted)
    assert np.mean(fewshot.closed_set_accuracy(feats, list(range(5)), "prototype", **common)) == 0.0


def test_cross_person_episodes_teach_one_subject_and_query_the_others(fewshot) -> None:
    labels = np.repeat(np.arange(6), 12)  # 6 actions x (3 subjects x 4 clips)
    subjects = np.tile(np.repeat([1, 2, 3], 4), 6)
    rng = np.random.default_rng(0)
    for _ in range(20):
        ep = fewshot.cross_person_episode(labels, subjects, 2, 3, 3, rng)
        assert len(ep.actions) == 3 and len(ep.support) == 9 and (subjects[ep.support] == 2).all()
        assert np.array_equal(labels[ep.support], np.repeat(ep.actions, 3))  # shots of each action, in order
        assert ep.support_y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
        assert (subjects[ep.known] != 2).all() and (subjects[ep.unknown] != 2).all()
        assert len(ep.known) == 3 * 8 and len(ep.unknown) == 3 * 8  # every other subject's clip is a query
        assert np.array_equal(ep.actions[ep.known_y], labels[ep.known])
        assert not set(labels[ep.unknown]) & set(ep.actions)
    short = subjects.copy()
    short[(subjects == 3) & (labels >= 2)] = 1  # subject 3 now performs only actions 0 and 1
    assert fewshot.cross_person_episode(labels, short, 3, 3, 3, rng) is None
    with pytest.raises(fewshot.SkelrecError, match="DATASET:PART"):
        fewshot.parse_part("nw_ucla:test:third")
    assert fewshot.parse_part("utd_mhad:test:even") == ("utd_mhad", "test", "even")


def test_cross_person_scores_use_teach_defaults_and_accept_other_subjects(fewshot) -> None:
    """Subjects differ by a style offset: the default rule accepts the other subjects' clips of taught actions
    (the former tight rule did not) and rejects the clips of untaught actions."""
    g = torch.Generator().manual_seed(0)
    centres, styles = torch.randn(6, 128, generator=g), 0.6 * torch.randn(3, 128, generator=g)
    labels = np.repeat(np.arange(6), 12)
    subjects = np.tile(np.repeat([0, 1, 2], 4), 6)
    feats = centres[labels] + styles[subjects] + 0.05 * torch.randn(len(labels), 128, generator=g)
    settings = fewshot.TeachSettings()
    row = fewshot.cross_person_part(
        feats, labels, subjects, ways=3, shots=3, episodes=3, ratios=[0.4, 0.95], settings=settings, seed=0
    )
    assert row["closed_set_accuracy"]["mean"] == 100.0 and row["known_accepted"]["mean"] == 100.0
    assert row["unknown_rejected"]["mean"] == 100.0 and row["auroc"]["mean"] == 1.0
    assert row["ratio_sweep"]["0.4"]["known_accepted"] == 100.0  # the default, recomputed from the same scores
    assert row["ratio_sweep"]["0.95"]["known_accepted"] < 50  # near the examples' own similarity: other people out
    assert row["former_rule"]["known_accepted"] < 50
    assert row["leave_one_out"]["mean"] == 100.0 and row["known_correct"]["episodes"] == 9


@pytest.mark.slow
@pytest.mark.usefixtures("shared_data")
def test_cross_person_mode_reads_subjects_of_a_real_part(fewshot, monkeypatch, tmp_path) -> None:
    """The NW-UCLA cross-subject test part, its odd-numbered actions: the five even subjects, their subject ids."""
    monkeypatch.setattr(fewshot, "CACHES", tmp_path)
    base = fewshot.TeachBase.load(None, device="cpu")
    feats, labels, subjects = fewshot.subject_features(base, "nw_ucla", "test", "joints", "odd")
    assert sorted(set(subjects.tolist())) == [2, 4, 6, 8, 10] and set(labels.tolist()) == {1, 3, 5, 7, 9}
    assert feats.shape == (len(labels), 20 * 256)
