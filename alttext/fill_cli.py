"""`alttext fill` and `alttext check` on the command line (registered on the app in cli.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from alttext import fill as pipeline
from alttext.errors import AltTextError
from alttext.fetch import is_url
from alttext.options import (
    BatchOption,
    DeviceOption,
    KindActionOption,
    MinConfidenceOption,
    ModelOption,
    OcrTimeoutOption,
    check_device,
    kind_actions,
    say,
)
from alttext.report import check_lines, summary, write_json, write_review

TargetsArgument = Annotated[
    list[str], typer.Argument(help="HTML files, site directories (recursively) or http(s) URLs.")
]
CrawlOption = Annotated[
    int,
    typer.Option("--crawl-depth", min=0, help="For URLs: follow same-origin links this many steps away."),
]
MARKER_FORMAT = re.compile(r"([A-Za-z_:][-A-Za-z0-9_.:]*)=(.*)", re.DOTALL)


def fill(
    targets: TargetsArgument,
    out: Annotated[
        Path | None,
        typer.Option(help="Write patched copies here, mirroring the tree (required for URLs)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print a unified diff instead of writing.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write one JSON record per image.")] = None,
    review: Annotated[Path | None, typer.Option(help="Write an HTML page for a person to check the results.")] = None,
    min_confidence: MinConfidenceOption = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help='Replace alt text a person wrote (never alt="").')
    ] = False,
    fill_titled: Annotated[
        bool, typer.Option("--fill-titled", help="Also fill images that have only a title.")
    ] = False,
    crawl_depth: CrawlOption = 0,
    marker: Annotated[
        str, typer.Option(help='NAME=VALUE beside each generated alt; "" for none.')
    ] = "data-alt-generated=alttext",
    model: ModelOption = None,
    device: DeviceOption = "auto",
    batch_size: BatchOption = 16,
    kind_action: KindActionOption = None,
    ocr_timeout: OcrTimeoutOption = 15.0,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="auto|ADDRESS", help="Describe the images on a Ray cluster (the ray extra).")] = None,
) -> None:
    """Write alt text for every image that needs it, changing no other byte."""
    if any(is_url(t) for t in targets) and out is None and not (dry_run or diff):
        raise typer.BadParameter("URL targets need --out DIR (or --dry-run, --diff)", param_hint="--out")
    check_device(device)
    for path, name in ((report, "--report"), (review, "--review")):
        if path is not None and not path.parent.is_dir():
            raise typer.BadParameter(f"{path.parent} is not a directory", param_hint=name)
    options = pipeline.Options(
        out=out,
        dry_run=dry_run,
        diff=diff,
        min_confidence=min_confidence,
        overwrite=overwrite,
        fill_titled=fill_titled,
        crawl_depth=crawl_depth,
        marker=parse_marker(marker),
        thumbnails=review is not None,
    )
    if out is not None and not (dry_run or diff):
        make_out_dir(out)
    if ray is None:
        describer = load_describer(model, device, batch_size, options, kind_actions(kind_action), ocr_timeout)
    else:
        describer = load_ray_describer(ray, dict(model=model, device=device, batch_size=batch_size,
                                                 actions=kind_actions(kind_action), ocr_timeout=ocr_timeout), options)
    run = pipeline.fill(targets, describer, options)
    say(summary(run.records, run.pages, len(run.failures)))
    write_reports(run, report, review)
    raise typer.Exit(1 if run.failures else 0)


def check(targets: TargetsArgument, crawl_depth: CrawlOption = 0) -> None:
    """List every image that needs alt text or a person's review; exit 1 when there is any."""
    run = pipeline.check(targets, pipeline.Options(crawl_depth=crawl_depth))
    for line in check_lines(run.records):
        typer.echo(line)
    say(f"{len(run.records)} images need alt text or review, in {run.pages} pages")
    raise typer.Exit(1 if run.records or run.failures else 0)


def parse_marker(marker: str) -> tuple[str, str] | None:
    if not marker:
        return None
    found = MARKER_FORMAT.fullmatch(marker)
    if found is None:
        raise typer.BadParameter(f"{marker!r} is not NAME=VALUE", param_hint="--marker")
    return found.group(1), found.group(2)


def make_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        say(f"{out}: cannot create the output directory ({error.strerror or error})")
        raise typer.Exit(1) from None


def load_describer(model: Path | None, device: str, batch_size: int, options: pipeline.Options,
                   actions: dict[str, str], ocr_timeout: float, on_device_note=say):
    from alttext.describe import make_describer

    try:
        describer = make_describer(model, device, batch_size, on_device_note=on_device_note, actions=actions,
                                   ocr_timeout=ocr_timeout)
    except AltTextError as error:
        say(str(error))
        raise typer.Exit(1) from None
    if options.min_confidence is None:
        options.min_confidence = describer.default_min_confidence
    return describer


def load_ray_describer(address: str, settings: dict, options: pipeline.Options):
    try:
        from alttext.distributed import RayDescriber, start_ray
    except ImportError:
        say("--ray needs Ray: pip install 'alttext[ray]'")
        raise typer.Exit(1) from None
    try:
        start_ray(address)
        describer = RayDescriber(settings)
    except Exception as error:  # Ray wraps the workers' errors (a ModelError, say) in its own types
        say(f"--ray {address}: {str(error).strip().splitlines()[-1][:300]}")
        raise typer.Exit(1) from None
    if options.min_confidence is None:
        options.min_confidence = describer.default_min_confidence
    return describer


def write_reports(run: pipeline.Run, report: Path | None, review: Path | None) -> None:
    try:
        if report is not None:
            write_json(report, run.records)
        if review is not None:
            write_review(review, run.records)
    except OSError as error:
        say(f"{error.filename}: cannot write ({error.strerror})")
        raise typer.Exit(1) from None
