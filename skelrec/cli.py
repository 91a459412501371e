"""The ``skelrec`` command. Thin: parse arguments, call one library entry point, print its result.

Each command imports its library inside its function, on purpose: importing this module takes 0.05 s, the library
(torch) 1.4 s (``python -X importtime -c "import skelrec.cli"`` / ``"import skelrec.labeling"``), so ``--help`` and
light commands (``skelrec models``) answer at once.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from skelrec.errors import SkelrecError
from skelrec.keyvalues import parse_key_values

if TYPE_CHECKING:
    from skelrec.evaluate import EvalResult, FinetuneSettings


def _flag(*names: str, help: str) -> Any:
    """A boolean option that takes no value (``--name``, or ``--name/--no-name``).

    typer 0.29 prints every option's type in the help, ``<bool>`` included, which reads as if the flag took a value
    (``--overlay yes`` then labels a video named ``yes``). pyproject.toml pins typer below 0.29, where its own
    ``--help`` row is clean too; the empty metavar keeps skelrec's flags clean whatever typer is installed.
    """
    return typer.Option(*names, help=help, metavar="")


app = typer.Typer(
    name="skelrec",
    help="Action recognition from video with self-supervised skeleton models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command()
def prepare(
    dataset: Annotated[str, typer.Argument(help="Dataset name, e.g. ntu60, ntu120, pku_mmd, nw_ucla, utd_mhad.")],
    raw: Annotated[Path, typer.Option("--raw", help="Folder holding the dataset's original files.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the prepared cache to.")],
    workers: Annotated[int, typer.Option(help="Parallel reader processes (0 = all cores).")] = 0,
    missing_list: Annotated[
        Path | None, typer.Option(help="NTU: official samples_with_missing_skeletons.txt (skip listed samples).")
    ] = None,
    skip_bad: Annotated[
        bool, _flag("--skip-bad", help="Skip unreadable files (listed in the report) instead of stopping.")
    ] = False,
    force: Annotated[bool, _flag("--force", help="Rebuild even if --out holds a complete cache.")] = False,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Reader option KEY=VALUE (repeatable; VALUE read as JSON when it parses), e.g. video_folder: "
            "-o layout=mediapipe33 -o mirrored=true -o max_side=640.",
        ),
    ] = None,
) -> None:
    """Convert a dataset once into a cache that training reads fast (resumable: re-run after an interruption)."""
    from skelrec.datasets.prepare import prepare_dataset

    options = {"missing_list": missing_list} if missing_list else {}
    options |= parse_key_values(option, "--option", "--option layout=mediapipe33")
    try:
        report = prepare_dataset(dataset, raw, out, workers=workers, skip_bad=skip_bad, force=force, **options)
    except KeyboardInterrupt:
        typer.echo("interrupted: finished shards are kept; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    typer.echo(report.describe())


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="A skeleton file of any supported dataset, or a prepared cache.")],
    as_json: Annotated[bool, _flag("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Print what a single file holds: format, frames, persons, joints, layout, label, metadata."""
    from skelrec.datasets.inspect import inspect_file

    info = inspect_file(file)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            typer.echo(f"{key:>10}: {value}")


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the shipped models (skelrec label --model NAME) and the actions each one recognises."""
    from skelrec.datasets.base import BACKGROUND_CLASS
    from skelrec.hub.shipped import list_shipped_models

    rows = list_shipped_models()
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        where = row["folder"] if row["available"] else "not built/shipped in this install"
        inputs = "" if row["videos"] else ", skeleton files only"
        typer.echo(f"{row['name']}: {row['description']} [{where}{inputs}]")
        actions = [label for label in row["labels"] if label != BACKGROUND_CLASS]
        if actions:
            between = f' (and "{BACKGROUND_CLASS}" between them)' if len(actions) < len(row["labels"]) else ""
            typer.echo(f"  {len(actions)} actions{between}: {', '.join(actions)}")


@app.command()
def download(
    repo_id: Annotated[str, typer.Argument(help="Hugging Face Hub model repo, e.g. owner/name.")],
    revision: Annotated[str | None, typer.Option(help="Branch, tag or commit id (default: the main branch).")] = None,
    local_dir: Annotated[
        Path | None, typer.Option("--local-dir", help="Put the files in this folder instead of only the Hub cache.")
    ] = None,
) -> None:
    """Download a model from the Hub (or take it from the cache when offline) and print its folder."""
    from skelrec.hub.remote import download as download_model

    typer.echo(download_model(repo_id, revision=revision, local_dir=local_dir))


@app.command()
def push(
    folder: Annotated[Path, typer.Argument(help="Checkpoint folder (config.json, model.safetensors, README.md).")],
    repo_id: Annotated[str, typer.Argument(help="Hub model repo to upload to, e.g. owner/name (created if needed).")],
    private: Annotated[bool, _flag("--private", help="Create the repo as private.")] = False,
    branch: Annotated[
        str | None, typer.Option("--branch", "--revision", help="Branch to commit to (created if needed).")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Commit message.")] = None,
) -> None:
    """Check that a checkpoint folder loads, then upload it to the Hugging Face Hub; prints the commit URL."""
    from skelrec.hub.publish import push as push_model

    typer.echo(push_model(folder, repo_id, private=private, branch=branch, commit_message=message))


@app.command()
def pretrain(
    config: Annotated[Path, typer.Argument(help="Training config (YAML), e.g. pretrain/configs/test/tiny.yaml.")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Config overrides key.sub=value, e.g. optim.lr=1e-3 run.out_dir=runs/try1."),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue from this checkpoint (or run folder); default: run.out_dir's last checkpoint."),
    ] = None,
) -> None:
    """Pretrain an encoder with a self-supervised method; for several GPUs/processes launch it with torchrun."""
    from skelrec.config import load_config
    from skelrec.train import train

    result = train(load_config(config, overrides or []), resume=resume)
    if result.rank == 0:
        typer.echo(result.describe())


@app.command()
def label(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Video files, pose files (.npz), skeleton files (PKU-MMD .txt/.txt.xz, NTU .skeleton, NW-UCLA .json, "
            "UTD-MHAD .mat, MSR .txt, MSRC-12 .csv) or folders of them."
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(help="Shipped model name (skelrec models), checkpoint folder or Hub repo id (owner/name)."),
    ] = None,
    revision: Annotated[str | None, typer.Option(help="Hub branch, tag or commit of --model.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder (poses are cached in OUT/.poses).")] = Path("labels"),
    formats: Annotated[
        str, typer.Option("--format", help="Files per video, any of json,csv,srt (json is always written).")
    ] = "json,csv,srt",
    overlay: Annotated[bool, _flag("--overlay", help="Also write OUT/STEM.mp4 with the labels drawn.")] = False,
    stride: Annotated[int, typer.Option(help="Run the pose estimator on every N-th frame (>= 1).")] = 1,
    window: Annotated[
        float | None, typer.Option(help="Window length in seconds, > 0 (default: the model's clip).")
    ] = None,
    window_stride: Annotated[float | None, typer.Option(help="Seconds between windows, > 0 (default 0.5).")] = None,
    smoothing: Annotated[str, typer.Option(help="none, moving_average[:WINDOWS] or ema[:ALPHA].")] = "moving_average",
    min_confidence: Annotated[
        float | None,
        typer.Option(help="Below this probability (0-1) a window is 'no action' (default: the model's own, else 0.4)."),
    ] = None,
    max_frames: Annotated[int | None, typer.Option(help="Label only the first N (>= 1) processed frames.")] = None,
    max_side: Annotated[
        int | None, typer.Option(help="Downscale frames to this many pixels (>= 16) for poses.")
    ] = None,
    mirrored: Annotated[bool, _flag("--mirrored", help="Videos are mirrored (webcam/selfie).")] = False,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
    force: Annotated[bool, _flag("--force", help="Label again videos that are already done.")] = False,
    fps: Annotated[
        float | None,
        typer.Option(help="Frame rate of skeleton files (default: their format's, 30 for Kinect; videos keep theirs)."),
    ] = None,
) -> None:
    """Label the actions in videos over time: segments and per-window scores as JSON/CSV/SRT, optional overlay.

    Ctrl-C stops after printing what finished and what did not (exit 130); the same command resumes.
    """
    from skelrec.labeling.batch import BatchInterrupted, RichBatchProgress, check_output_folder, label_batch
    from skelrec.labeling.labeler import Labeler
    from skelrec.pose.options import PoseOptions

    check_output_folder(out)  # before the model and the pose estimator start: a bad --out costs nothing
    try:
        pose = PoseOptions(frame_stride=stride, max_side=max_side, max_frames=max_frames)
        labeler = Labeler.from_pretrained(
            model,
            revision=revision,
            device=device,
            window=window,
            stride=window_stride,
            smoothing=smoothing,
            min_confidence=min_confidence,
            pose=pose,
            mirrored=mirrored,
            skeleton_fps=fps,
        )
        with RichBatchProgress() as progress:
            report = label_batch(labeler, inputs, out, formats=formats, overlay=overlay, force=force, progress=progress)
    except BatchInterrupted as stop:
        typer.echo(stop.report.describe())
        typer.echo("interrupted: finished videos are kept; run the same command again to label the rest", err=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        typer.echo("interrupted before any video was labelled", err=True)
        raise typer.Exit(130) from None
    typer.echo(report.describe())
    if report.failed:
        raise typer.Exit(1)


@app.command()
def teach(
    examples: Annotated[
        Path, typer.Argument(help="Folder with one sub-folder of clips (videos or .npz pose files) per action.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Checkpoint folder to write (poses are cached in OUT/.poses).")],
    base: Annotated[
        str | None, typer.Option(help="Model whose encoder embeds the clips: Hub repo id or folder; default: embedded.")
    ] = None,
    method: Annotated[str, typer.Option(help="prototype (instant), knn, linear or finetune (slower).")] = "prototype",
    augment: Annotated[
        bool, _flag("--augment", help="Add generated copies (MacDiff diffusion, else skeleton transforms).")
    ] = False,
    open_set: Annotated[
        bool | None,
        _flag("--open-set/--closed-set", help="Far from every action = 'unknown' (default: prototype, knn)."),
    ] = None,
    pooling: Annotated[
        str | None,
        typer.Option(
            help="Encoder feature the head reads (prototype, knn, linear): joints (default), segment_joints (for "
            "actions that differ only in direction or order), mean or segments; README 'Teach your own actions'."
        ),
    ] = None,
    stride: Annotated[int, typer.Option(help="Run the pose estimator on every N-th frame.")] = 1,
    max_side: Annotated[int | None, typer.Option(help="Downscale frames to this many pixels for poses.")] = None,
    mirrored: Annotated[bool, _flag("--mirrored", help="Videos are mirrored (webcam/selfie).")] = False,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
) -> None:
    """Teach new actions from a few example clips each; writes a model that skelrec label and the app use."""
    from skelrec.labeling import PoseOptions
    from skelrec.teach import RichTeachProgress, TeachSettings
    from skelrec.teach import teach as teach_actions

    settings = TeachSettings(method=method, open_set=open_set, augment=augment, **_given(pooling=pooling))
    pose = PoseOptions(frame_stride=stride, max_side=max_side)
    command = shlex.join(["skelrec", *sys.argv[1:]])
    with RichTeachProgress() as progress:
        result = teach_actions(
            examples,
            out,
            base=base,
            settings=settings,
            pose=pose,
            mirrored=mirrored,
            device=device,
            progress=progress,
            command=command,
        )
    typer.echo(result.describe())


@app.command("app")
def serve_app(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: all interfaces).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
    share: Annotated[bool, _flag("--share", help="Also serve a temporary public gradio.live link.")] = False,
    model: Annotated[
        str | None, typer.Option(help="Model shown first: Hub repo id or checkpoint folder; default: the embedded one.")
    ] = None,
    max_seconds: Annotated[float, typer.Option(help="Longest video accepted, in seconds.")] = 120.0,
    max_upload_mb: Annotated[float, typer.Option(help="Largest upload accepted, in megabytes.")] = 200.0,
    concurrency: Annotated[int, typer.Option(help="Videos labelled at the same time; others wait in a queue.")] = 1,
) -> None:
    """Start the web app: upload or record a video, see what the person does and when (Ctrl+C stops it)."""
    from skelrec_app.main import launch

    launch(
        host=host,
        port=port,
        share=share,
        model=model,
        max_seconds=max_seconds,
        max_upload_mb=max_upload_mb,
        concurrency=concurrency,
    )


# ------------------------------------------------------------------------------------------------------------------
# skelrec evaluate {linear, knn, finetune, semi}
# ------------------------------------------------------------------------------------------------------------------

evaluate_app = typer.Typer(
    help="Evaluate a pretrained encoder on a prepared dataset: linear probe, kNN, fine-tuning, semi-supervised.",
    no_args_is_help=True,
)
app.add_typer(evaluate_app, name="evaluate")

EvalCheckpoint = Annotated[Path, typer.Argument(help="Checkpoint folder, e.g. a pretraining run's encoder/ export.")]
EvalData = Annotated[Path, typer.Option("--data", help="Prepared cache (skelrec prepare ... --out PATH).")]
EvalOut = Annotated[Path, typer.Option("--out", help="Write the result (JSON) to this file.")]
EvalProtocol = Annotated[
    str, typer.Option(help="Split of the cache (xsub, xview ...); auto = the first with train and test samples.")
]
EvalInit = Annotated[
    str, typer.Option(help="pretrained: the checkpoint's weights; random: a random encoder of its config (control).")
]
EvalPooling = Annotated[
    str,
    typer.Option(
        help="Feature pooling: mean (MAMP), joints (MacDiff: the V x D tokens), segments (4 temporal segments, "
        "in order: for SkeletonMAE's per-frame GIN) or segment_joints (both)."
    ),
]
EvalClasses = Annotated[
    list[str] | None,
    typer.Option(
        "--classes",
        help="Evaluate on this class of the cache only (its name as in the cache's info.json; repeat the option "
        "for several, relabelled in this order), e.g. PKU-MMD's eight interactions.",
    ),
]
EvalSeed = Annotated[int, typer.Option(help="Seed of initialisation, data order and augmentations.")]
EvalDevice = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
EvalWorkers = Annotated[int, typer.Option("--workers", help="DataLoader worker processes.")]
EvalEpochs = Annotated[int | None, typer.Option(help="Training epochs (default: linear 100, finetune 100).")]
EvalBatchSize = Annotated[int | None, typer.Option(help="Training batch (default: linear 256, finetune 48).")]
EvalLr = Annotated[float | None, typer.Option(help="Peak learning rate (default: linear 0.1, finetune 3e-4).")]
EvalLayerDecay = Annotated[
    float | None, typer.Option(help="Layer-wise lr decay (default: 0.8; 1.0 with --init random).")
]
EvalDropPath = Annotated[float | None, typer.Option(help="Encoder drop path (default: 0.3).")]
EvalSmoothing = Annotated[float | None, typer.Option(help="Label smoothing (default: 0.1).")]
EvalMaxSteps = Annotated[int | None, typer.Option(help="Stop after this many optimizer steps (smoke runs).")]
EvalAugment = Annotated[
    list[str] | None,
    typer.Option(
        "--augment",
        help="Training augmentation KEY=VALUE (a data.augment field; repeat), e.g. noise_std=0.02 fps_scale=[0.67,1.5]"
        " (default: MAMP's 50-100 % crop and 0.3 rad rotation).",
    ),
]
EvalRunDir = Annotated[
    Path | None,
    typer.Option(
        help="Training run folder, resumable (default: --out without .json); the classifier goes to classifier/."
    ),
]


def _given(**options: object) -> dict[str, object]:
    """The options the user set (``None`` = the recipe's default)."""
    return {k: v for k, v in options.items() if v is not None}


def _report(result: EvalResult | None, out: Path) -> None:
    """Write the result file and print the table (rank 0 only: other processes of a torchrun launch get None)."""
    from skelrec.evaluate import write_result

    if result is None:
        return
    write_result(result, out)
    typer.echo(result.table())
    typer.echo(f"result: {out}")


def _finetune_settings(**options: object) -> FinetuneSettings:
    from skelrec.evaluate import FinetuneSettings

    return FinetuneSettings(**_given(**options))  # type: ignore[arg-type]


@evaluate_app.command("linear")
def evaluate_linear(
    checkpoint: EvalCheckpoint,
    data: EvalData,
    out: EvalOut,
    protocol: EvalProtocol = "auto",
    init: EvalInit = "pretrained",
    classes: EvalClasses = None,
    pooling: EvalPooling = "mean",
    epochs: EvalEpochs = None,
    batch_size: EvalBatchSize = None,
    lr: EvalLr = None,
    augment: Annotated[bool, _flag(help="Train on augmented clips (slow) instead of fixed features.")] = False,
    seed: EvalSeed = 0,
    device: EvalDevice = "auto",
    workers: EvalWorkers = 0,
) -> None:
    """Linear probe on the frozen encoder's features (MAMP recipe); prints top-1/top-5 on the test part."""
    from skelrec.evaluate import EvalContext, LinearSettings, run_linear

    options = _given(pooling=pooling, epochs=epochs, batch_size=batch_size, lr=lr, augment=augment, seed=seed)
    ctx = EvalContext.open(checkpoint, data, protocol, init, classes=classes or None)  # type: ignore[arg-type]
    _report(run_linear(ctx, LinearSettings(**options), device=device, num_workers=workers), out)  # type: ignore[arg-type]


@evaluate_app.command("knn")
def evaluate_knn(
    checkpoint: EvalCheckpoint,
    data: EvalData,
    out: EvalOut,
    protocol: EvalProtocol = "auto",
    init: EvalInit = "pretrained",
    classes: EvalClasses = None,
    pooling: EvalPooling = "mean",
    k: Annotated[int, typer.Option("--k", help="Neighbours voting (1-NN is reported too).")] = 20,
    temperature: Annotated[float, typer.Option(help="Vote weight exp(cos / temperature) (InstDisc).")] = 0.07,
    seed: EvalSeed = 0,
    device: EvalDevice = "auto",
    workers: EvalWorkers = 0,
) -> None:
    """k-nearest-neighbour classification of the frozen encoder's features (cosine, weighted vote)."""
    from skelrec.evaluate import EvalContext, KnnSettings, run_knn

    settings = KnnSettings(k=k, temperature=temperature, pooling=pooling, seed=seed)
    ctx = EvalContext.open(checkpoint, data, protocol, init, classes=classes or None)  # type: ignore[arg-type]
    _report(run_knn(ctx, settings, device=device, num_workers=workers), out)


@evaluate_app.command("finetune")
def evaluate_finetune(
    checkpoint: EvalCheckpoint,
    data: EvalData,
    out: EvalOut,
    protocol: EvalProtocol = "auto",
    init: EvalInit = "pretrained",
    classes: EvalClasses = None,
    epochs: EvalEpochs = None,
    batch_size: EvalBatchSize = None,
    lr: EvalLr = None,
    layer_decay: EvalLayerDecay = None,
    drop_path: EvalDropPath = None,
    label_smoothing: EvalSmoothing = None,
    max_steps: EvalMaxSteps = None,
    augment: EvalAugment = None,
    head: Annotated[
        str | None,
        typer.Option(help="Registered head to train (default: the encoder's fine-tuning head), e.g. linear."),
    ] = None,
    pooling: Annotated[
        str | None,
        typer.Option(
            help="Feature a pooled head (linear) reads: mean, joints, segments, segment_joints. With --head linear "
            "--no-downstream the encoder trains through the linear probe's feature: the probe's supervised reference."
        ),
    ] = None,
    downstream: Annotated[
        bool,
        _flag(help="Fine-tune a pretrained encoder inside its downstream model (SkeletonMAE's GIN: STRL)."),
    ] = True,
    run_dir: EvalRunDir = None,
    seed: EvalSeed = 0,
    device: EvalDevice = "auto",
    workers: EvalWorkers = 0,
) -> None:
    """Fine-tune encoder + head (MAMP recipe) through the training loop; --init random is the supervised baseline."""
    from skelrec.evaluate import EvalContext, run_finetune

    settings = _finetune_settings(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        layer_decay=layer_decay,
        drop_path=drop_path,
        label_smoothing=label_smoothing,
        max_steps=max_steps,
        head=head,
        pooling=pooling,
        downstream=downstream,
        seed=seed,
    )
    augmentation = parse_key_values(augment, "--augment", "--augment noise_std=0.02")
    ctx = EvalContext.open(checkpoint, data, protocol, init, augment=augmentation, classes=classes or None)  # type: ignore[arg-type]
    run_dir = run_dir or out.with_suffix("")
    command = shlex.join(["skelrec", *sys.argv[1:]])
    _report(run_finetune(ctx, settings, run_dir=run_dir, device=device, num_workers=workers, command=command), out)


@evaluate_app.command("semi")
def evaluate_semi(
    checkpoint: EvalCheckpoint,
    data: EvalData,
    out: EvalOut,
    protocol: EvalProtocol = "auto",
    init: EvalInit = "pretrained",
    classes: EvalClasses = None,
    fraction: Annotated[list[float] | None, typer.Option(help="Labelled fraction(s) (default: 0.01 and 0.1).")] = None,
    seeds: Annotated[
        list[int] | None, typer.Option("--seed", help="Seed(s), one run each (default: 0 1 2 3 4).")
    ] = None,
    balanced: Annotated[bool, _flag(help="Same number of clips per class (default: MAMP's random subset).")] = False,
    diffusion_augment: Annotated[
        bool, _flag(help="Augment the labelled clips with MacDiff's diffusion decoder.")
    ] = False,
    epochs: EvalEpochs = None,
    batch_size: EvalBatchSize = None,
    lr: EvalLr = None,
    layer_decay: EvalLayerDecay = None,
    drop_path: EvalDropPath = None,
    label_smoothing: EvalSmoothing = None,
    max_steps: EvalMaxSteps = None,
    augment: EvalAugment = None,
    run_dir: EvalRunDir = None,
    device: EvalDevice = "auto",
    workers: EvalWorkers = 0,
) -> None:
    """Fine-tune on 1 % / 10 % of the labels, several seeds; prints mean ± std of the test accuracy."""
    from skelrec.evaluate import EvalContext, run_semi

    settings = _finetune_settings(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        layer_decay=layer_decay,
        drop_path=drop_path,
        label_smoothing=label_smoothing,
        max_steps=max_steps,
    )
    augmentation = parse_key_values(augment, "--augment", "--augment noise_std=0.02")
    ctx = EvalContext.open(checkpoint, data, protocol, init, augment=augmentation, classes=classes or None)  # type: ignore[arg-type]
    options = _given(fractions=fraction or None, seeds=seeds or None)
    result = run_semi(
        ctx,
        settings,
        run_dir=run_dir or out.with_suffix(""),
        balanced=balanced,
        diffusion_augment=diffusion_augment,
        device=device,
        num_workers=workers,
        **options,  # type: ignore[arg-type]
    )
    _report(result, out)


def main() -> None:
    from skelrec.pose.native_log import separate_python_stderr

    separate_python_stderr()  # MediaPipe's start-up notices are then filtered without holding back Python's output
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # huggingface_hub's client logs every request at INFO
    logging.getLogger("httpx").setLevel(logging.WARNING)  # so does gradio's (skelrec app)
    try:
        app()
    except SkelrecError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
