"""QR check-in: kiosk tokens, the participant's signed claim, and the durable claim outbox.

Flow (docs/checkin.md): the kiosk shows a QR code of ``/c/<token>`` that changes every
``checkin.rotation_s`` (:mod:`.tokens`); the phone signs an EIP-712 claim over the token with a
key it holds (:mod:`.signing`); the API checks it and commits it to the ``claims`` table before
answering (:mod:`.intake`); the relayer (``ledger.relay``) records the outbox on chain.
"""
