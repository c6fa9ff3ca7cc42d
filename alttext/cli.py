"""The `alttext` command line."""

from __future__ import annotations

import glob
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from alttext import __version__, bench, fill_cli, review, serve
from alttext.errors import AltTextError, ModelError, SourceError
from alttext.options import (
    OCR_BUDGET_S,
    BatchOption,
    BeamOption,
    DeviceOption,
    KindActionOption,
    MinConfidenceOption,
    ModelOption,
    OcrTimeoutOption,
    QualityOption,
    check_device,
    check_quality,
    kind_actions,
    quiet_onnxruntime,
    say,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Offline alt text for images on the web.",
    pretty_exceptions_enable=False,
)


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"alttext {__version__}")
        raise typer.Exit()


@app.callback()
def cli(
    version: Annotated[
        bool, typer.Option("--version", callback=show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Offline alt text for images on the web."""


def image_files(directory: Path) -> list[Path]:
    from PIL import Image

    known = set(Image.registered_extensions())
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in known)


def expand(source: str) -> list[str]:
    """A directory becomes its images, a glob its matches; anything else stays as it is."""
    if source == "-" or source.startswith(("http://", "https://")):
        return [source]
    path = Path(source)
    if path.is_dir():
        return [str(p) for p in image_files(path)] or [source]
    if any(ch in source for ch in "*?[") and not path.exists():
        return sorted(glob.glob(source, recursive=True)) or [source]
    return [source]


def read_source(source: str, timeout: float) -> bytes:
    from alttext import fetch

    if source == "-":
        return fetch.read_stdin()
    if fetch.is_url(source):
        return fetch.fetch_url(source, timeout=timeout)[0]
    path = Path(source)
    if path.is_dir():
        raise SourceError(source, "directory has no images")
    if any(ch in source for ch in "*?[") and not path.exists():
        raise SourceError(source, "no files match")
    return fetch.read_file(path, source)


def read_or_fail(source: str, timeout: float):
    """(source, bytes), or the Description of why they cannot be read."""
    from alttext.describe import Description

    try:
        return source, read_source(source, timeout)
    except SourceError as e:
        return Description(source, "error", reason=e.reason)


@app.command()
def caption(
    sources: Annotated[list[str], typer.Argument(help="Image files, directories, globs, http(s) URLs, or - (stdin).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array, not SOURCE<TAB>ALT lines.")] = False,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    beam_size: BeamOption = None,
    batch_size: BatchOption = 16,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for a URL.")] = 10.0,
    kind_action: KindActionOption = None,
    ocr_timeout: OcrTimeoutOption = OCR_BUDGET_S,
    min_confidence: MinConfidenceOption = None,
    quality: QualityOption = "default",
):
    """Print alt text for each image: SOURCE<TAB>ALT, one line per image."""
    from alttext.describe import Description, apply_floor, make_describer

    check_device(device)
    check_quality(quality)
    actions = kind_actions(kind_action)
    quiet_onnxruntime()
    try:
        describer = make_describer(model, device, batch_size, beam_size, on_device_note=say, actions=actions,
                                   ocr_timeout=ocr_timeout, quality=quality)
    except ModelError as e:
        say(str(e))
        raise typer.Exit(1) from None
    floor = describer.default_min_confidence if min_confidence is None else min_confidence
    names = [s for source in sources for s in expand(source)]
    results: list[Description] = []
    failed = False
    for start in range(0, len(names), batch_size):
        read = [read_or_fail(name, timeout) for name in names[start : start + batch_size]]
        described = iter(describer([r for r in read if isinstance(r, tuple)]))
        for r in read:
            result = apply_floor(next(described), floor) if isinstance(r, tuple) else r
            failed |= result.action == "error"
            results.append(result)
            if not as_json:
                print_line(result)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in results], indent=1, ensure_ascii=False))
    raise typer.Exit(1 if failed else 0)


def print_line(result) -> None:
    if result.action == "error":
        say(f"{result.source}: {result.reason}")
    elif result.action == "alt":
        typer.echo(f"{result.source}\t{result.alt}")
    else:
        proposed = f" (proposed: {result.alt!r})" if result.alt else ""
        say(f"{result.source}: needs a person: {result.reason}{proposed}")
    sys.stdout.flush()


app.command("fill")(fill_cli.fill)
app.command("check")(fill_cli.check)
app.command("serve")(serve.serve)
app.command("review")(review.review)
app.command("bench")(bench.bench)


def main() -> None:  # pragma: no cover - the console script
    try:
        app()
    except AltTextError as e:
        say(str(e))
        sys.exit(1)
