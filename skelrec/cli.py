"""The ``skelrec`` command. Thin: parse arguments, call one library entry point, print its result."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from skelrec.errors import SkelrecError

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
        bool, typer.Option("--skip-bad", help="Skip unreadable files (listed in the report) instead of stopping.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if --out holds a complete cache.")] = False,
) -> None:
    """Convert a dataset once into a cache that training reads fast (resumable: re-run after an interruption)."""
    from skelrec.datasets.prepare import prepare_dataset

    options = {"missing_list": missing_list} if missing_list else {}
    try:
        report = prepare_dataset(dataset, raw, out, workers=workers, skip_bad=skip_bad, force=force, **options)
    except KeyboardInterrupt:
        typer.echo("interrupted: finished shards are kept; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    typer.echo(report.describe())


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="A skeleton file of any supported dataset, or a prepared cache.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
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
    private: Annotated[bool, typer.Option("--private", help="Create the repo as private.")] = False,
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
        typer.Argument(help="Config overrides key.sub=value (YAML values), e.g. optim.lr=1e-3 data.paths=[caches/a]."),
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


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # huggingface_hub's client logs every request at INFO
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
