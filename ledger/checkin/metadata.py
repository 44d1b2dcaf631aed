"""An activity's (or project's) text: kept off chain, committed to by its hash on chain.

The chain stores ``keccak256`` of the canonical JSON ``{"description", "name", "venue"}`` (keys
sorted, no spaces, UTF-8) as the metadata hash; ``activity_metadata`` keeps the text so pages can
show it, and anyone can check a text against the chain by hashing it again. No personal data.
"""

from __future__ import annotations

import json
import time

from eth_utils.crypto import keccak
from sqlalchemy import Connection, text

__all__ = ["metadata_document", "store_metadata"]


def metadata_document(name: str, description: str = "", venue: str = "") -> tuple[str, str]:
    """Canonical JSON of the text and its keccak256 (0x hex), as the chain stores it."""
    document = json.dumps(
        {"name": name, "description": description, "venue": venue},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return document, "0x" + keccak(text=document).hex()


def store_metadata(conn: Connection, name: str, description: str = "", venue: str = "") -> str:
    """Keep the text (idempotent); returns its metadata hash."""
    _, metadata_hash = metadata_document(name, description, venue)
    conn.execute(
        text(
            "INSERT INTO activity_metadata (metadata_hash, name, description, venue, created_at) "
            "VALUES (:h, :n, :d, :v, :t) ON CONFLICT DO NOTHING"
        ),
        {"h": metadata_hash, "n": name, "d": description, "v": venue, "t": int(time.time())},
    )
    return metadata_hash
