"""Model cards (``README.md``) rendered from a checkpoint config, following the Hub's conventions.

Every fact on the card comes from ``config.json`` (:mod:`skelrec.checkpoint`); no number is typed here.
Besides the checkpoint's required fields the card reads these optional sections::

    "method": "macdiff",                                  # self-supervised method (or training.method)
    "license": "other",                                   # Hub license id; default "other"
    "training": {"data": [{"id": "ntu60", "name": "NTU RGB+D 60",
                           "terms": "research use only", "url": "https://..."}]},
    "metrics": [{"protocol": "linear", "dataset": "ntu60", "dataset_name": "NTU RGB+D 60",
                 "split": "xsub", "metric": "accuracy", "value": 85.0,       # top-1, percent
                 "command": "skelrec evaluate ..."}]      # the command that measured it ("evaluation" also read)

The front matter holds ``library_name: skelrec``, ``tags``, ``license``, ``datasets``, ``pipeline_tag`` and a
``model-index`` built with huggingface_hub's :class:`~huggingface_hub.ModelCardData`, so the Hub shows the results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from huggingface_hub import ModelCard, ModelCardData
from huggingface_hub.repocard_data import EvalResult

from skelrec.checkpoint import CheckpointConfig
from skelrec.errors import SkelrecError
from skelrec.skeleton import LAYOUTS

__all__ = ["Metric", "TrainingData", "render_model_card", "validate_model_card"]

PIPELINE_TAG = "video-classification"
TASK_NAME = "Skeleton-based action recognition"
DEFAULT_TERMS = "research use only (see the dataset's own terms)"
PLACEHOLDER_REPO = "OWNER/NAME"

PROTOCOLS = {
    "linear": "linear evaluation: the pretrained encoder is frozen and a linear classifier is trained on its features",
    "knn": "k-nearest-neighbour classification on the frozen encoder's features",
    "finetune": "fine-tuning: encoder and classifier are trained end to end on the labelled training split",
    "semi": "semi-supervised: fine-tuning with a small fraction of the training labels",
    "leave-one-out": "each example clip is classified by the model taught without it (`skelrec teach`)",
    "cross-validation": "each fold of the example clips is classified by the model taught without it (`skelrec teach`)",
    "leave-one-person-out": "each person's example clips are classified by the model taught from the other persons' "
    "clips (`skelrec teach`)",
}


@dataclass(frozen=True)
class TrainingData:
    """One dataset the model was trained on, and the terms its use falls under."""

    id: str
    name: str
    terms: str = DEFAULT_TERMS
    url: str | None = None

    @classmethod
    def parse(cls, item: Any, where: str) -> TrainingData:
        fields = _mapping(item, where, required=("id",))
        return cls(
            id=str(fields["id"]),
            name=str(fields.get("name", fields["id"])),
            terms=str(fields.get("terms", DEFAULT_TERMS)),
            url=fields.get("url"),
        )


@dataclass(frozen=True)
class Metric:
    """One measured result: ``value`` (top-1 accuracy in percent) of ``protocol`` on ``dataset``/``split``."""

    protocol: str
    dataset: str
    dataset_name: str
    split: str
    value: float
    metric: str = "accuracy"
    command: str | None = None

    @classmethod
    def parse(cls, item: Any, where: str) -> Metric:
        fields = _mapping(item, where, required=("protocol", "dataset", "split", "value"))
        value = fields["value"]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise SkelrecError(f"{where}.value must be a number (top-1 accuracy in percent), got {value!r}")
        return cls(
            protocol=str(fields["protocol"]),
            dataset=str(fields["dataset"]),
            dataset_name=str(fields.get("dataset_name", fields["dataset"])),
            split=str(fields["split"]),
            value=float(value),
            metric=str(fields.get("metric", "accuracy")),
            command=fields.get("command"),
        )

    def eval_result(self) -> EvalResult:
        """This result as a Hub ``model-index`` entry."""
        return EvalResult(
            task_type=PIPELINE_TAG,
            task_name=TASK_NAME,
            dataset_type=self.dataset,
            dataset_name=self.dataset_name,
            dataset_split=self.split,
            metric_type=self.metric,
            metric_name=f"top-1 {self.metric} ({self.protocol})",
            metric_value=self.value,
        )


def _mapping(item: Any, where: str, required: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise SkelrecError(f"{where} must be an object with {', '.join(required)}, got {item!r}")
    missing = [key for key in required if key not in item]
    if missing:
        raise SkelrecError(f"{where} lacks {', '.join(missing)}; expected an object with {', '.join(required)}")
    return item


def _list(node: Any, where: str) -> list[Any]:
    """``node`` as a list (empty when absent)."""
    if node is None:
        return []
    if not isinstance(node, (list, tuple)):
        raise SkelrecError(f"config {where} must be a list, got {type(node).__name__}")
    return list(node)


def training_data(config: CheckpointConfig) -> list[TrainingData]:
    data = _list((config.training or {}).get("data"), "training.data")
    return [TrainingData.parse(d, f"config training.data[{i}]") for i, d in enumerate(data)]


def metrics_of(config: CheckpointConfig) -> list[Metric]:
    """The measured results of ``config.metrics`` (or of the ``evaluation`` section older configs wrote)."""
    key, items = (
        ("metrics", config.metrics) if config.metrics is not None else ("evaluation", config.extra.get("evaluation"))
    )
    return [Metric.parse(m, f"config {key}[{i}]") for i, m in enumerate(_list(items, key))]


def method_of(config: CheckpointConfig) -> str | None:
    """The self-supervised method that pretrained the encoder, if any: ``method`` when it is a name (a pretraining
    export's ``method`` section and a fine-tuning run's ``training.method`` are recipes, mappings, not names)."""
    method = config.method or (config.training or {}).get("method")
    return method if isinstance(method, str) and method else None


# ---- rendering ------------------------------------------------------------------------------------------------


def card_data(config: CheckpointConfig, metrics: Sequence[Metric], model_name: str) -> ModelCardData:
    """The YAML front matter of the card."""
    method, encoder = method_of(config), config.encoder.name
    tags = ["skelrec", "skeleton", "action-recognition", *(["self-supervised"] if method else [])]
    tags += [t for t in (method, encoder, config.layout) if t]
    return ModelCardData(
        library_name="skelrec",
        license=config.license or "other",
        tags=tags,
        datasets=[d.id for d in training_data(config)] or None,
        pipeline_tag=PIPELINE_TAG,
        model_name=model_name,
        eval_results=[m.eval_result() for m in metrics] or None,
    )


def render_model_card(
    config: CheckpointConfig | Mapping[str, Any],
    *,
    metrics: Sequence[Mapping[str, Any]] | None = None,
    repo_id: str | None = None,
    model_name: str | None = None,
    extra: str | None = None,
) -> str:
    """The ``README.md`` of a checkpoint: front matter, usage, training data and terms, evaluation, labels.

    Args:
        config: the checkpoint config (:class:`~skelrec.checkpoint.CheckpointConfig`, or ``config.json`` as a dict).
        metrics: results to show instead of the config's ``metrics`` section (same item format).
        repo_id: the Hub repo the card is for, used in the usage examples (a placeholder when ``None``).
        model_name: the card's title and ``model-index`` name (default: ``repo_id``'s name, or method + encoder).
        extra: Markdown appended as a last section (e.g. notes on the training run).
    """
    config = CheckpointConfig.coerce(config)
    results = [Metric.parse(m, f"metrics[{i}]") for i, m in enumerate(metrics)] if metrics else metrics_of(config)
    name = model_name or (repo_id.split("/")[-1] if repo_id else _default_name(config))
    sections = [
        f"# {name}\n\n{_summary(config)}",
        _usage(repo_id or PLACEHOLDER_REPO, config.min_persons),
        _training(config),
        _evaluation(results),
        _labels(config),
        extra.strip() if extra else "",
    ]
    body = "\n\n".join(s for s in sections if s) + "\n"
    card = f"---\n{card_data(config, results, name).to_yaml()}\n---\n\n{body}"
    validate_model_card(card)
    return card


def _default_name(config: CheckpointConfig) -> str:
    return "-".join(p for p in ("skelrec", method_of(config), config.encoder.name, config.layout) if p)


def _summary(config: CheckpointConfig) -> str:
    method, encoder, head = method_of(config), config.encoder.name, config.head
    layout = config.layout
    joints = LAYOUTS[layout].num_joints if layout in LAYOUTS else "?"
    what = f"a `{head.name}` action classifier on a `{encoder}` skeleton encoder" if head else f"a `{encoder}` encoder"
    how = f" pretrained with the self-supervised method `{method}`" if method else ""
    return (
        f"A skelrec model: {what}{how}.\n\n"
        f"Input: `{layout}` skeletons ({joints} joints), {config.clip_length} frames, "
        f"{_persons(config.num_persons)}, normalized as recorded in `config.json`."
    )


def _persons(n: int) -> str:
    """``1 person`` or ``up to n persons`` (a model input holds ``n`` person slots)."""
    return "1 person" if n == 1 else f"up to {n} persons"


def _usage(repo: str, min_persons: int | None = None) -> str:
    if (min_persons or 1) > 1:  # videos give one person (MediaPipe): skeleton files only
        what = (
            f"Label the actions in skeleton files of {min_persons} persons (PKU-MMD `.txt`, NTU `.skeleton`, a pose "
            "`.npz`; sliding windows, segments). Videos are refused: pose estimation from video sees one person"
        )
        example = "RECORDING.skeleton"
    else:
        what, example = (
            "Label the actions in a video (pose estimation, skeletons, sliding windows, segments)",
            "VIDEO.mp4",
        )
    return (
        "## How to use\n\n"
        f"{what}:\n\n"
        f"```bash\nskelrec label {example} --model {repo}\n```\n\n"
        "From Python:\n\n"
        f'```python\nfrom skelrec.hub import from_pretrained\n\nloaded = from_pretrained("{repo}")\n'
        "model, config = loaded.model, loaded.config  # torch module in eval mode, typed config.json\n```"
    )


def _training(config: CheckpointConfig) -> str:
    data = training_data(config)
    if not data:
        return "## Training data\n\nNot recorded in `config.json`."
    rows = [f"| {d.name} (`{d.id}`) | {d.terms} | {d.url or ''} |" for d in data]
    return (
        "## Training data and terms\n\n| Dataset | Terms | Source |\n|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "The datasets are distributed for research use; these weights were derived from them and inherit "
        "their terms. Check each dataset's terms before any other use."
    )


def _evaluation(results: Sequence[Metric]) -> str:
    if not results:
        return "## Evaluation\n\nNo results recorded in `config.json`."
    protocols = sorted({m.protocol for m in results})
    notes = "\n".join(f"- **{p}**: {PROTOCOLS.get(p, p)}." for p in protocols)
    rows = [
        f"| {m.protocol} | {m.dataset_name} | {m.split} | {m.value:g} | {f'`{m.command}`' if m.command else ''} |"
        for m in results
    ]
    return (
        f"## Evaluation\n\nProtocols:\n\n{notes}\n\n"
        f"| Protocol | Dataset | Split | Top-1 {results[0].metric} (%) | Command |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
    )


def _labels(config: CheckpointConfig) -> str:
    labels = config.labels
    if not labels:
        return "## Labels\n\nNone: this is a pretrained encoder without a classification head."
    items = "\n".join(f"{i}. {label}" for i, label in enumerate(labels))
    return f"## Labels\n\n<details>\n<summary>{len(labels)} classes (index: name)</summary>\n\n{items}\n\n</details>"


def validate_model_card(text: str) -> dict[str, Any]:
    """The card's front matter, after checking it parses (``yaml.safe_load``) and huggingface_hub accepts it."""
    parts = text.split("---\n", 2)
    if len(parts) < 3 or parts[0]:
        raise SkelrecError("model card: no YAML front matter; it must start with '---' and a closing '---'")
    try:
        meta = yaml.safe_load(parts[1])
        if not isinstance(meta, dict):
            raise ValueError(f"expected a YAML mapping, got {type(meta).__name__}")
        ModelCardData(**meta, ignore_metadata_errors=False)
        ModelCard(text, ignore_metadata_errors=False)
    except Exception as err:  # yaml.YAMLError, ValueError/KeyError from huggingface_hub's parsers
        raise SkelrecError(f"model card front matter is invalid: {str(err).splitlines()[0]}") from err
    return meta
