"""Quality gates: each foundation's metrics against the thresholds in params.yaml (``foundations.gates``).

A gate is ``{metric: {min: x}}`` or ``{metric: {max: x}}``; orchestration turns failures into asset checks that
block training on a bad foundation.
"""

from __future__ import annotations

from typing import Any


class GateError(ValueError):
    """A gate names a metric the foundation does not report, or has no min/max."""


def gate_failures(metrics: dict[str, Any], gates: dict[str, dict[str, float]], name: str) -> list[str]:
    """Every violated threshold as a sentence; an empty list means the foundation passes."""
    failures = []
    for metric, bounds in gates.items():
        if metric not in metrics:
            raise GateError(f"gate on {name}.{metric}, but {name} reports only {sorted(metrics)}; fix "
                            "foundations.gates in params.yaml.")
        if not bounds or set(bounds) - {"min", "max"}:
            raise GateError(f"gate {name}.{metric} must be {{min: x}} and/or {{max: x}}, got {bounds}.")
        value = float(metrics[metric])
        if "min" in bounds and not value >= bounds["min"]:
            failures.append(f"{name}.{metric} = {value:.4g} is below the gate minimum {bounds['min']}")
        if "max" in bounds and not value <= bounds["max"]:
            failures.append(f"{name}.{metric} = {value:.4g} is above the gate maximum {bounds['max']}")
    return failures
