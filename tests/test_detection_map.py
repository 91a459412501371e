"""Detection mAP (skelrec.evaluate.detection): hand-computed cases of the PKU-MMD protocol."""

from __future__ import annotations

import pytest

from skelrec.errors import SkelrecError
from skelrec.evaluate.detection import (
    Instance,
    average_precision,
    detection_map,
    match_detections,
    temporal_iou,
)


def gt(start: float, end: float, label: str = "hug", video: str = "v1") -> Instance:
    return Instance(video, label, start, end)


def det(start: float, end: float, score: float, label: str = "hug", video: str = "v1") -> Instance:
    return Instance(video, label, start, end, score)


def test_temporal_iou():
    assert temporal_iou(gt(0, 10), gt(5, 15)) == pytest.approx(5 / 15)
    assert temporal_iou(gt(0, 10), gt(10, 20)) == 0.0  # [start, end): touching intervals do not overlap
    assert temporal_iou(gt(0, 10), gt(2, 4)) == pytest.approx(0.2)
    assert temporal_iou(gt(0, 10), gt(0, 10)) == 1.0


def test_perfect_detections_score_one():
    truths = [gt(0, 10), gt(20, 30), gt(5, 15, "kick"), gt(0, 8, "hug", "v2")]
    dets = [det(t.start, t.end, 0.9 - 0.1 * i, t.label, t.video) for i, t in enumerate(truths)]
    scores = detection_map(dets, truths)
    assert scores.mean_ap == {0.1: 1.0, 0.3: 1.0, 0.5: 1.0}
    assert scores.per_class["hug"]["instances"] == 3


def test_false_positive_ranked_first_halves_ap():
    # one instance; the best-scored detection misses it, the second finds it: precision 1/2 at recall 1
    hits = match_detections([det(50, 60, 0.9), det(0, 10, 0.5)], [gt(0, 10)], 0.5)
    assert hits.tolist() == [False, True]
    assert average_precision(hits, 1) == pytest.approx(0.5)
    # ranked after the true positive, the same false positive costs nothing
    assert detection_map([det(50, 60, 0.1), det(0, 10, 0.5)], [gt(0, 10)]).mean_ap[0.5] == pytest.approx(1.0)


def test_duplicate_detection_of_one_instance_is_a_false_positive():
    truths = [gt(0, 10), gt(20, 30)]
    dets = [det(0, 10, 0.9), det(1, 10, 0.8), det(20, 30, 0.7)]  # the second is a duplicate of the first instance
    hits = match_detections(dets, truths, 0.5)
    assert hits.tolist() == [True, False, True]
    # precisions 1, 1/2, 2/3; interpolated at the true positives: 1 and 2/3 -> (1 + 2/3) / 2
    assert detection_map(dets, truths).mean_ap[0.5] == pytest.approx((1 + 2 / 3) / 2)


def test_iou_exactly_at_the_threshold_counts():
    # [0, 10) against [0, 20): IoU exactly 0.5; [0, 3) against [0, 10): exactly 0.3
    assert match_detections([det(0, 10, 1.0)], [gt(0, 20)], 0.5).tolist() == [True]
    assert match_detections([det(0, 3, 1.0)], [gt(0, 10)], 0.3).tolist() == [True]
    assert match_detections([det(0, 9.99, 1.0)], [gt(0, 20)], 0.5).tolist() == [False]


def test_detection_matches_only_its_own_video_and_the_best_unmatched_instance():
    truths = [gt(0, 10, video="v1"), gt(0, 10, video="v2")]
    assert match_detections([det(0, 10, 1.0, video="v3")], truths, 0.1).tolist() == [False]
    # two instances overlap the detection; it takes the better one, leaving the other for the next detection
    truths = [gt(0, 10), gt(4, 14)]
    hits = match_detections([det(4, 14, 0.9), det(0, 10, 0.8)], truths, 0.5)
    assert hits.tolist() == [True, True]


def test_class_without_ground_truth_is_ignored_and_a_missed_class_scores_zero():
    truths = [gt(0, 10), gt(0, 10, "kick")]
    dets = [det(0, 10, 0.9), det(0, 10, 0.99, "wave")]  # "wave" has no ground truth: not averaged
    scores = detection_map(dets, truths, thresholds=(0.5,))
    assert set(scores.per_class) == {"hug", "kick"}
    assert scores.per_class["kick"]["ap"][0.5] == 0.0  # never detected
    assert scores.mean_ap[0.5] == pytest.approx(0.5)
    restricted = detection_map(dets, truths, thresholds=(0.5,), classes=["hug"])
    assert restricted.mean_ap[0.5] == 1.0
    with pytest.raises(SkelrecError, match="no ground truth"):
        detection_map(dets, truths, classes=["wave"])


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(SkelrecError, match="empty"):
        Instance("v1", "hug", 10, 10)
    with pytest.raises(SkelrecError, match="no ground-truth"):
        detection_map([det(0, 1, 0.5)], [])
    with pytest.raises(SkelrecError, match="score"):
        detection_map([gt(0, 10)], [gt(0, 10)])


def test_to_dict_keys_are_thresholds():
    out = detection_map([det(0, 10, 0.9)], [gt(0, 10)]).to_dict()
    assert out["map"] == {"0.1": 1.0, "0.3": 1.0, "0.5": 1.0}
    assert out["per_class"]["hug"]["ap"]["0.5"] == 1.0
