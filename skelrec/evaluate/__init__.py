"""Evaluation protocols of pretrained encoders: ``linear``, ``knn``, ``finetune`` and ``semi``.

Every protocol starts from a checkpoint folder and a prepared dataset split (:class:`EvalContext`), with the
checkpoint's weights (``init="pretrained"``) or a random encoder of its config (``init="random"``, the control), and
returns an :class:`EvalResult` (printed as a table by ``skelrec evaluate``, written as JSON by :func:`write_result`).
Fine-tuning runs through :func:`skelrec.train.train` with the ``supervised`` method.
"""

from skelrec.evaluate.context import INITS, EvalContext, resolve_protocol
from skelrec.evaluate.features import POOLINGS, extract_features, predict_logits
from skelrec.evaluate.finetune import FinetuneSettings, finetune_once, run_finetune
from skelrec.evaluate.knn import KnnSettings, knn_scores, run_knn
from skelrec.evaluate.linear import LinearSettings, fit_linear_probe, run_linear
from skelrec.evaluate.metrics import classification_metrics, per_class_accuracy, topk_accuracy
from skelrec.evaluate.results import EvalResult, write_result
from skelrec.evaluate.semi import GeneratedClips, generate_clips, load_augmenter, run_semi, semi_subset

__all__ = [
    "INITS",
    "POOLINGS",
    "EvalContext",
    "EvalResult",
    "FinetuneSettings",
    "GeneratedClips",
    "KnnSettings",
    "LinearSettings",
    "classification_metrics",
    "extract_features",
    "finetune_once",
    "fit_linear_probe",
    "generate_clips",
    "knn_scores",
    "load_augmenter",
    "per_class_accuracy",
    "predict_logits",
    "resolve_protocol",
    "run_finetune",
    "run_knn",
    "run_linear",
    "run_semi",
    "semi_subset",
    "topk_accuracy",
    "write_result",
]
