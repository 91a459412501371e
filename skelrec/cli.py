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
) -> None:
    """Convert a dataset once into a cache that training reads fast (resumable)."""
    from skelrec.datasets.prepare import prepare_dataset

    options = {"missing_list": missing_list} if missing_list else {}
    report = prepare_dataset(dataset, raw, out, workers=workers, **options)
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


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
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
