"""A believable year of Tsunagari data on the demo devnet, through the real contracts and the real
check-in and relay path (``tsunagari demo seed``; ``tsunagari demo`` runs it on a fresh devnet).

- :mod:`ledger.demo_seed.catalogue`: the ten regions, their activities, seasons and projects.
- :mod:`ledger.demo_seed.plan`: who does what on which day (pure; the MLIT 2023 figures it follows
  are cited there).
- :mod:`ledger.demo_seed.run`: plays the plan day by day on anvil.
"""
