"""`alttext fill` and `alttext check` on the command line (registered on the app in cli.py)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from alttext import check as checking
from alttext import fill as pipeline
from alttext.decisions import DecisionsError
from alttext.errors import AltTextError
from alttext.fetch import is_url
from alttext.options import (
    OCR_BUDGET_S,
    BatchOption,
    DeviceOption,
    KindActionOption,
    MinConfidenceOption,
    ModelOption,
    OcrTimeoutOption,
    check_device,
    kind_actions,
    quiet_onnxruntime,
    say,
)
from alttext.pages import HTML_SUFFIXES, local_files
from alttext.report import summary, write_json
from alttext.review_page import write_review
from alttext.scan import SUSPICIOUS

TargetsArgument = Annotated[
    list[str], typer.Argument(help="HTML files, site directories (recursively) or http(s) URLs.")
]
CrawlOption = Annotated[
    int,
    typer.Option("--crawl-depth", min=0, help="For URLs: follow same-origin links this many steps away."),
]
RootOption = Annotated[
    Path | None,
    typer.Option("--root", help="The site root that /root-relative URLs start from (default: the target "
                 "directory, or a single page's folder).", file_okay=False),
]
RemoteImagesOption = Annotated[
    bool, typer.Option("--remote-images", help="For local pages, also read images on the web (off: offline).")
]
WriteReadOnlyOption = Annotated[
    bool, typer.Option("--write-read-only", help="Also rewrite pages that have no write permission.")
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
    overwrite_suspicious: Annotated[
        bool, typer.Option("--overwrite-suspicious",
                           help='Replace only alt text that says nothing: a file name, "image", "Click here".')
    ] = False,
    decisions: Annotated[
        Path | None, typer.Option("--decisions", help="The site's decisions file (default: .alttext.json at "
                                  "the site root, when there is one).", dir_okay=False)
    ] = None,
    reuse: Annotated[
        bool, typer.Option("--reuse/--no-reuse", help="Give a picture the alt a person wrote for the same "
                           "picture on another page.")
    ] = True,
    fill_titled: Annotated[
        bool, typer.Option("--fill-titled", help="Also fill images that have only a title.")
    ] = False,
    crawl_depth: CrawlOption = 0,
    root: RootOption = None,
    remote_images: RemoteImagesOption = False,
    write_read_only: WriteReadOnlyOption = False,
    marker: Annotated[
        str, typer.Option(help='NAME=VALUE beside each generated alt; "" for none.')
    ] = "data-alt-generated=alttext",
    model: ModelOption = None,
    device: DeviceOption = "auto",
    batch_size: BatchOption = 16,
    kind_action: KindActionOption = None,
    ocr_timeout: OcrTimeoutOption = OCR_BUDGET_S,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="auto|ADDRESS", help="Describe the images on a Ray cluster (the ray extra).")] = None,
) -> None:
    """Write alt text for every image that needs it, changing no other byte."""
    if any(is_url(t) for t in targets) and out is None and not (dry_run or diff):
        raise typer.BadParameter("URL targets need --out DIR (or --dry-run, --diff)", param_hint="--out")
    check_device(device)
    check_targets(targets, root, out)
    for path, name in ((report, "--report"), (review, "--review")):
        if path is not None and not path.parent.is_dir():
            raise typer.BadParameter(f"{path.parent} is not a directory", param_hint=name)
    options = pipeline.Options(
        out=out,
        root=root,
        remote_images=remote_images,
        write_read_only=write_read_only,
        dry_run=dry_run,
        diff=diff,
        min_confidence=min_confidence,
        overwrite=overwrite or (SUSPICIOUS if overwrite_suspicious else False),
        fill_titled=fill_titled,
        crawl_depth=crawl_depth,
        marker=parse_marker(marker),
        thumbnails=review is not None,
        reuse=reuse,
        decisions=decisions,
    )
    if out is not None and not (dry_run or diff):
        make_out_dir(out)
    if ray is None:
        describer = load_describer(model, device, batch_size, options, kind_actions(kind_action), ocr_timeout)
    else:
        describer = load_ray_describer(ray, dict(model=model, device=device, batch_size=batch_size,
                                                 actions=kind_actions(kind_action), ocr_timeout=ocr_timeout), options)
    try:
        run = pipeline.fill(targets, describer, options)
    except DecisionsError as error:
        say(str(error))
        raise typer.Exit(1) from None
    say(summary(run.records, run.pages, len(run.failures)))
    write_reports(run, report, review)
    raise typer.Exit(1 if run.failed else 0)


def check(
    targets: TargetsArgument,
    crawl_depth: CrawlOption = 0,
    root: RootOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array of findings, not lines.")] = False,
    fail_on: Annotated[
        str, typer.Option("--fail-on", help="Which findings make the exit code 1, comma-separated: "
                          "missing (no alt), review (machine alt not reviewed yet), suspicious (a person's "
                          'alt that says nothing); "" for none.')
    ] = ",".join(checking.SEVERITIES),
) -> None:
    """List every image that needs a person: no alt, machine alt awaiting review, or suspicious alt."""
    failing = parse_severities(fail_on)
    check_targets(targets, root, None)
    run = checking.check(targets, pipeline.Options(crawl_depth=crawl_depth, root=root))
    if as_json:
        typer.echo(json.dumps([f.as_json() for f in run.findings], indent=1, ensure_ascii=False))
    for finding in [] if as_json else run.findings:
        typer.echo(finding.text())
    counts = Counter(f.severity for f in run.findings)
    needing = len({f.page for f in run.findings})
    say(f"{len(run.findings)} images need alt text or review, in {needing} of {run.pages} pages ("
        + ", ".join(f"{severity} {counts[severity]}" for severity in checking.SEVERITIES) + ")")
    raise typer.Exit(1 if counts.keys() & failing or run.failures else 0)


def parse_severities(text: str) -> set[str]:
    found = {word.strip() for word in text.split(",") if word.strip()}
    unknown = found - set(checking.SEVERITIES)
    if unknown:
        raise typer.BadParameter(f"{', '.join(sorted(unknown))}: not one of {', '.join(checking.SEVERITIES)}",
                                 param_hint="--fail-on")
    return found


def check_targets(targets: list[str], root: Path | None, out: Path | None) -> None:
    """Usage errors (exit 2): a file given as a page that is not HTML, a site without HTML pages, a target
    outside --root. A page that is missing is the run's failure to report, not a usage error."""
    for target in targets:
        path = Path(target)
        if is_url(target) or not path.exists():
            continue
        if path.is_file() and not path.name.lower().endswith(HTML_SUFFIXES):
            usage_error(f"{target}: not an HTML page (its name does not end in .html or .htm)")
        if path.is_dir() and not local_files(path, out)[1]:
            usage_error(f"{target}: no HTML pages found")
        if root is not None and not path.resolve().is_relative_to(root.resolve()):
            usage_error(f"{target}: not inside --root {root}")


def usage_error(line: str) -> None:
    say(line)
    raise typer.Exit(2)


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

    quiet_onnxruntime()
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
