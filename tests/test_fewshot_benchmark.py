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
