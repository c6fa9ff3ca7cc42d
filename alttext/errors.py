"""Errors a user can cause: each carries the source it concerns and a one-line reason."""


class AltTextError(Exception):
    """Base class for failures reported to the user as one line, never a traceback."""


class SourceError(AltTextError):
    """An image, page or URL could not be read or used."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class ModelError(AltTextError):
    """The model bundle is missing, broken, or cannot run on the asked device."""
