"""The relayer: the check-in outbox and signed supports (応援) into transactions, exactly once."""

from ledger.relay.relayer import Relayer, RelayReport

__all__ = ["Relayer", "RelayReport"]
