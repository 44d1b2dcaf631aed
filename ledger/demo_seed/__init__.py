"""A believable year of Tsunagari data on the demo devnet, through the real contracts and the real
check-in and relay path (``tsunagari demo seed``; ``tsunagari demo`` runs it on a fresh devnet).

- :mod:`ledger.demo_seed.catalogue`: the ten regions, their activities, seasons and projects.
- :mod:`ledger.demo_seed.plan`: who does what on which day (pure; the MLIT 2023 figures it follows
  are cited there).
- :mod:`ledger.demo_seed.run`: plays the plan day by day on anvil.
- :mod:`ledger.demo_seed.progress`: where the seed stands (``<devnet.data_dir>/demo-seed.json``),
  read by the terminal's progress bar, the pages' banner and the next start.
- :mod:`ledger.demo_seed.background`: the seed in a child process, while ``tsunagari demo`` serves
  (docs/decisions/0013-demo-serves-while-it-seeds.md).
"""
