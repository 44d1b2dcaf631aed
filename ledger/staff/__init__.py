"""Region staff and platform operators who sign in to the console (docs/console.md).

- :mod:`ledger.staff.roles`: roles, permissions and the :class:`~ledger.staff.roles.Actor` that
  every console action and operator endpoint is authorised as (a signed-in account or an API key).
- :mod:`ledger.staff.passwords`: argon2id hashing and the password rule.
- :mod:`ledger.staff.accounts`: accounts, one-time invite links, sign-in with lockout, TOTP.
- :mod:`ledger.staff.sessions`: server-side sessions (the cookie holds a random id; the database
  its sha256, the CSRF token and the expiry).
- :mod:`ledger.staff.audit`: the staff audit (sign-ins and every staff action).

Nothing here imports FastAPI; ``api/`` turns these into cookies, redirects and HTTP statuses.
The decision record is docs/decisions/0004-staff-console-sign-in.md.
"""
