"""`check`: what needs a person on each page: images without alt, machine alt still awaiting review,
and alt a person wrote that says nothing (suspicious.py's rules). Reads no image, writes nothing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from alttext import suspicious
from alttext.errors import SourceError
from alttext.pages import PageJob, PageOptions, count_pages, pages
from alttext.report import Progress, short
from alttext.resolve import locate
from alttext.scan import ALONE, DECORATIVE, KEEP, NEEDS_ALT, Image
from alttext.splice import MARKER, REVIEW_STATE

MISSING = "missing"  # needs alt: none, or only whitespace, or a link's only content
REVIEW = "review"  # alt written by alttext and flagged, not yet reviewed by a person
SUSPICIOUS = "suspicious"  # a person's alt that says nothing
SEVERITIES = (MISSING, REVIEW, SUSPICIOUS)


@dataclass
class Finding:
    page: str
    line: int
    source: str
    severity: str
    codes: list[str]
    reason: str
    alt: str | None = None

    def as_json(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        return f"{self.page}:{self.line}: {short(self.source) or '(no source)'}: {self.reason}"


@dataclass
class CheckRun:
    pages: int = 0
    findings: list[Finding] = field(default_factory=list)
    failures: list[SourceError] = field(default_factory=list)


@dataclass
class Seen:
    """A person's alt on one page, kept until the whole site is read, for the `duplicate` rule."""

    finding: Finding | None
    page: str
    image: Image
    picture: str


def check(targets: list[str], options: PageOptions, progress: Progress | None = None) -> CheckRun:
    """Every image that needs a person, in page order."""
    progress = progress or Progress(total=count_pages(targets, options))
    run, seen, order = CheckRun(), [], {}
    for job in pages(targets, options):
        if isinstance(job, SourceError):
            run.failures.append(job)
            progress.line(f"alttext: {job}")
            continue
        run.pages += 1
        order.setdefault(job.name, len(order))
        for image in job.scan.images:
            finding = image_finding(job.name, image)
            if _human(image):
                seen.append(Seen(finding, job.name, image, _picture(job, image)))
            elif finding is not None:
                run.findings.append(finding)
        progress.advance(1, len(job.scan.images))
    run.findings += _with_duplicates(seen)
    run.findings.sort(key=lambda f: (order[f.page], f.line))
    progress.done()
    return run


def image_finding(page: str, image: Image) -> Finding | None:
    def found(severity: str, codes: list[str], reason: str) -> Finding:
        return Finding(page, image.line, image.source, severity, codes, reason, image.alt)

    if image.decision in NEEDS_ALT:
        return found(MISSING, ["missing-alt"], image.reason)
    if image.generated is not None and REVIEW_STATE in image.generated.split():
        return found(REVIEW, ["awaiting-review"], f"machine alt awaiting a person's review: “{image.alt}”")
    if image.reason == DECORATIVE and image.element == "img" and image.context == ALONE:
        return found(SUSPICIOUS, [suspicious.EMPTY_LINK], suspicious.describe(suspicious.EMPTY_LINK))
    codes = suspicious.codes(image.alt, (image.nearby_text, image.figcaption)) if _human(image) else []
    return found(SUSPICIOUS, codes, _suspicious_reason(image.alt, codes)) if codes else None


def _suspicious_reason(alt: str, codes: list[str]) -> str:
    return f"suspicious alt “{' '.join(alt.split())}”: " + "; ".join(suspicious.describe(c) for c in codes)


def _human(image: Image) -> bool:
    """A non-empty alt a person wrote on an <img> (not the marker's)."""
    return (image.element == "img" and image.decision == KEEP and bool(image.alt and image.alt.strip())
            and MARKER[0] not in image.attributes)


def _picture(job: PageJob, image: Image) -> str:
    """Which picture an image shows, as far as a check that reads no image can tell: its resolved URL."""
    try:
        return str(locate(image.source, job.url, job.scan.base, job.root, True))
    except SourceError:
        return image.source


def _with_duplicates(seen: list[Seen]) -> list[Finding]:
    """The findings for people's alts, with `duplicate` added where one alt names different pictures."""
    pictures: dict[str, set[str]] = {}
    for entry in seen:
        pictures.setdefault(_plain(entry.image.alt), set()).add(entry.picture)
    findings = []
    for entry in seen:
        finding = entry.finding
        if len(pictures[_plain(entry.image.alt)]) > 1:
            image = entry.image
            finding = finding or Finding(entry.page, image.line, image.source, SUSPICIOUS, [], "", image.alt)
            finding.codes = [*finding.codes, suspicious.DUPLICATE]
            finding.reason = _suspicious_reason(image.alt, finding.codes)
        if finding is not None:
            findings.append(finding)
    return findings


def _plain(alt: str) -> str:
    return " ".join(alt.lower().split())
