"""gbaletter: build the weekly Greater Bay Area newsletter and send it to a segment of subscribers."""

__version__ = "0.1.0"
