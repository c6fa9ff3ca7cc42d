"""alttext: offline alt text for images on the web."""

__version__ = "0.1.0"
