"""What region staff do, as functions over the database and the chain: the staff console's pages
and the operator JSON endpoints both call these (``api/`` only parses and renders).

- :mod:`ledger.console.pending`: every action that sends a transaction runs through
  :func:`~ledger.console.pending.run_chain_action`: a ``pending_actions`` row before it is sent,
  ``done`` or ``failed`` after, and the staff audit entry; a row a crash left ``sending`` is
  reconciled against the indexed chain and shown to staff until resolved.
"""
