"""baselineCreate/baselineCheck: flag values far from the recent mean.

A baseline keeps the last ``window`` values. Until it has them all, baselineCheck answers
"learning". Then a value above mean + sensitivity * sdev (below mean - sensitivity * sdev) is an
outlier; "high" ("low") is answered once ``repeat`` consecutive outliers in that direction were
seen, "normal" otherwise. Every value joins the window, so the baseline follows lasting changes.
"""

from __future__ import annotations

import collections
import math

WINDOW = 180
SENSITIVITY = 3.0
REPEAT = 3


class Baseline:
    def __init__(
        self, window: int = WINDOW, sensitivity: float = SENSITIVITY, repeat: int = REPEAT
    ):
        if window < 2 or sensitivity <= 0 or repeat < 1:
            raise ValueError(
                "baselineCreate: window >= 2, sensitivity > 0 and repeat >= 1 expected"
            )
        self.window, self.sensitivity, self.repeat = window, sensitivity, repeat
        self.reset()

    def reset(self) -> None:
        self.values: collections.deque = collections.deque(maxlen=self.window)
        self.high = self.low = 0

    def statistics(self):
        if len(self.values) < self.window:
            return None
        n = len(self.values)
        mean = sum(self.values) / n
        var = sum((v - mean) ** 2 for v in self.values) / n
        return {
            "mean": mean,
            "variance": var,
            "sdev": math.sqrt(var),
            "min": min(self.values),
            "max": max(self.values),
        }

    def check(self, value: float) -> str:
        stats = self.statistics()
        self.values.append(value)
        if stats is None:
            return "learning"
        band = self.sensitivity * stats["sdev"]
        if value > stats["mean"] + band:
            self.high += 1
            self.low = 0
        elif value < stats["mean"] - band:
            self.low += 1
            self.high = 0
        else:
            self.high = self.low = 0
        if self.high >= self.repeat:
            return "high"
        if self.low >= self.repeat:
            return "low"
        return "normal"
