"""One line of a benchmark report: the figure, and its ratio to the issue's target."""

from __future__ import annotations


def line(
    name: str, value: float, unit: str, target: float | None = None, higher_is_better: bool = True
) -> dict:
    ratio = None
    verdict = ""
    if target is not None:
        ratio = value / target if higher_is_better else target / value if value else float("inf")
        verdict = "  PASS" if ratio >= 1 else "  MISS"
    shown = f"{name:<58} {value:>12,.2f} {unit:<10}"
    if target is not None:
        sign = ">=" if higher_is_better else "<="
        shown += f" target {sign} {target:,.6g}  x{ratio:.2f}{verdict}"
    print(shown, flush=True)
    return {"name": name, "value": value, "unit": unit, "target": target, "ratio": ratio}
