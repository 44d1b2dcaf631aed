"""The relayer: the check-in outbox and signed supports (応援) into transactions, exactly once.

::

    relayer = Relayer(settings, engine, open_chain(settings))
    relayer.run(stop)                 # or relayer.run_once() to drain and wait until confirmed
    relayer.report().claims           # {"confirmed": 120, "accepted": 3, ...}

Modules, in the order a claim meets them:

- ``outbox``          the one owner of claims, supports, relay batches and attempts (the state machine)
- ``support_intake``  checks a signed support and queues it
- ``records``         accepted claims → simulated ``recordBatch`` transactions
- ``supports``        accepted supports → ``supportBySig`` transactions
- ``flights``         transactions on the wire: nonces, signing, broadcasting, fee bumps, receipts
- ``evidence``        what the chain says about our work (logs, receipts, transaction inputs)
- ``reconciliation``  landing, finality, vanished blocks, settling by evidence, nonce gaps
- ``sender``          EIP-1559 signing and the node's answers about one account
- ``holds``           work left alone for a while (paused regions, missing roles)
- ``relayer``         the loop that runs them
"""

from ledger.relay.outbox import Outbox, OutboxCounts
from ledger.relay.relayer import Relayer, RelayReport

__all__ = ["Outbox", "OutboxCounts", "Relayer", "RelayReport"]
