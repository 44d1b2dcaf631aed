"""The Flate streams of a PDF, inflated: what the PDF tests read text and attachments from."""

from __future__ import annotations

import re
import zlib

_STREAM = re.compile(rb"stream\r?\n")


def inflated_streams(pdf: bytes) -> list[bytes]:
    """Every Flate stream of ``pdf``, inflated. Each is read from its ``stream`` keyword to the end of
    its zlib data, not up to the next ``endstream``: compressed bytes that happen to end in ``\\r``
    would lose that byte to the line ending and fail to inflate (an intermittent test failure)."""
    found = []
    for match in _STREAM.finditer(pdf):
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(pdf[match.end() :])
        except zlib.error:
            continue
        if inflater.eof:
            found.append(data)
    return found
