"""Command-line options and messages that several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alttext.bundle import DEVICES

ModelOption = Annotated[
    Path | None, typer.Option("--model", help="Model bundle directory (else $ALTTEXT_MODEL, else the bundled model).")
]
DeviceOption = Annotated[str, typer.Option("--device", help="auto (CUDA when usable, else CPU), cuda or cpu.")]
BatchOption = Annotated[int, typer.Option("--batch-size", min=1, help="Images per model batch.")]
MinConfidenceOption = Annotated[
    float | None,
    typer.Option("--min-confidence", min=0.0, max=1.0,
                 help="Below it, write no caption and flag for review (default: the model's)."),
]
BeamOption = Annotated[int | None, typer.Option("--beam-size", min=1, help="Beams per image (default: the model's).")]
KindActionOption = Annotated[
    list[str] | None,
    typer.Option("--kind-action", metavar="KIND=ACTION",
                 help="What to write for a kind of image, e.g. art=caption; repeatable (README: 'Image kinds')."),
]
OCR_BUDGET_S = 60.0  # CPU seconds, not wall seconds: a busy machine must not change what is written
QualityOption = Annotated[
    str, typer.Option("--quality", help="default, or fast: beam 3 on the photo alone (README: 'Speed').")
]
OcrTimeoutOption = Annotated[float, typer.Option(
    "--ocr-timeout", min=0.1, help="CPU seconds OCR may spend on one image; past them it is flagged.")]


def say(line: str) -> None:
    """One line for the user, on stderr."""
    typer.echo(f"alttext: {line}", err=True)


def kind_actions(pairs: list[str] | None) -> dict[str, str]:
    from alttext.kinds import parse_actions

    try:
        return parse_actions(pairs or [])
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--kind-action") from None


def check_device(device: str) -> None:
    if device not in DEVICES:
        raise typer.BadParameter(f"{device!r} is not one of {', '.join(DEVICES)}", param_hint="--device")


def quiet_onnxruntime() -> None:
    """Turn off ONNX Runtime's telemetry before any model loads: alttext sends nothing anywhere."""
    import onnxruntime

    onnxruntime.disable_telemetry_events()


def check_quality(quality: str) -> None:
    from alttext.captioner import QUALITY

    if quality not in QUALITY:
        raise typer.BadParameter(f"{quality!r} is not one of {', '.join(QUALITY)}", param_hint="--quality")
