"""The HTTP API and pages (FastAPI), a thin layer over ``ledger``."""
