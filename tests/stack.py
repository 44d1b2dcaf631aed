"""The whole stack as real processes for tests (see scripts/devstack.py)."""

from scripts.devstack import NAGAOKA, TATEYAMA, DevStack, participants, running_stack, sign_claim

__all__ = ["NAGAOKA", "TATEYAMA", "DevStack", "participants", "running_stack", "sign_claim"]
