"""The one exception the data layer raises, so front ends can show its message as it is."""

from __future__ import annotations


class DataError(Exception):
    """A dataset cannot be found, read or trusted; the message names the file or folder to fix."""
