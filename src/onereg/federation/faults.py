"""Crash injection for the transfer fault test: a node process kills itself (SIGKILL, no
cleanup) at named protocol points, with a seeded random choice so that a failing run can be
replayed. Off unless a plan is passed to `onereg serve --fault-plan`; production never sets one.
"""

from __future__ import annotations

import json
import os
import random
import signal
from dataclasses import dataclass, field

POINTS = frozenset(
    {
        "source:initialized",  # after the lock is written, before the recipient hears of it
        "source:answered",  # the recipient accepted; before the source finalizes
        "source:finalized",  # after finalizing, before telling the recipient
        "source:cancelled",
        "recipient:accepted",  # after reserving, before answering the source
        "recipient:registered",
        "recipient:aborted",
    }
)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    probability: float = 0.0
    seed: int = 0
    points: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        data = json.loads(text)
        unknown = set(data.get("points", [])) - POINTS
        if unknown:
            raise ValueError(f"unknown fault points {sorted(unknown)}; known: {sorted(POINTS)}")
        return cls(float(data["probability"]), int(data["seed"]), frozenset(data["points"]))


class Faults:
    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)

    def point(self, name: str) -> None:
        if name in self.plan.points and self.rng.random() < self.plan.probability:
            os.kill(os.getpid(), signal.SIGKILL)
