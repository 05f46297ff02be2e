"""The study across its regimes: docs/study/report.md, from the regimes' own analyze folders.

Each regime folder is what `spotshield analyze` wrote (report.md, tables, figures, measured.json)
plus, in data/, the raw runs it read (grid.json and runs/<id>/events): the events are the study's
record, so every number here is recomputed from them by the same code as the regime's report
(tables.summary_frame, stats, restart_curve, advice_check), nothing is copied by hand.

Regimes (issue 14): seed (the seed study's conditions, where its finding must reproduce), hazard
(a preemption every few epochs, emergency checkpoints off: where the strategy matters) and trace
(the hazard grid with its preemptions replayed from a real trace).
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from spotshield.errors import SpotShieldError

DATA = "data"  # a regime folder's raw runs, what analyze read
MEASURED = "measured.json"
# The seed study's finding, as issue 14 states it: savings within a few points of the price
# discount, and zero wasted compute with emergency checkpoints on. "A few" is taken as 5 points.
SEED_GAP_POINTS = 5.0


@dataclass
class Regime:
    name: str
    folder: Path
    df: object  # tables.summary_frame of its runs
    C: float  # emulated s, measured.json (the regime report's)
    R: float  # median recovery, notice -> next step
    R_billed: float  # its median part that VMs bill: the cost model's R (analyze.measured_c_r)
    spot: float
    od: float
    grid: dict

    @property
    def runs(self):
        return self.df[~self.df["baseline"]]

    @property
    def discount(self) -> float:
        return 1.0 - self.spot / self.od


def load_regime(folder: Path, name: str | None = None) -> Regime:
    from spotshield.analysis.runs import load_runs
    from spotshield.analysis.tables import summary_frame
    from spotshield.billing import Rate

    folder = Path(folder)
    m, data = folder / MEASURED, folder / DATA
    if not m.is_file() or not data.is_dir():
        raise SpotShieldError(f"{folder} is not a regime folder: it needs {MEASURED} (spotshield analyze "
                              f"{data} --out {folder}) and the runs it read in {data}/")
    meas = json.loads(m.read_text())
    grid = json.loads((data / "grid.json").read_text()).get("grid", {}) if (data / "grid.json").is_file() else {}
    rate = Rate(float(meas["spot_price"]), float(meas["ondemand_price"]), False)
    df = summary_frame(load_runs(data), rate)
    R = float(meas["restart_s"])
    return Regime(name or folder.name, folder, df, float(meas["checkpoint_s"]), R,
                  float(meas.get("restart_billed_s", R)), rate.spot, rate.on_demand, grid)


def _flat(col) -> list[float]:
    return [float(v) for lst in col for v in lst]


def _glance(regimes: list[Regime]) -> list[str]:
    from spotshield.analysis import stats

    lines = ["## At a glance", "",
             "| regime | grid | spot runs + baselines | seeds | preemptions (runs without) | savings, all strategies | "
             "price discount | wasted per run (emulated s) | R median (emulated s) | R billed (emulated s) | "
             "emergency checkpoints ok / missed |",
             "|" + "---|" * 11]
    for r in regimes:
        runs = r.runs
        ok, missed = int(runs["emergency_ok"].sum()), int(runs["emergency_missed"].sum())
        emerg = f"{ok} / {missed}" if ok + missed else "off"
        lines.append(
            f"| [{r.name}]({r.name}/report.md) | `{r.grid.get('name', '?')}` | {len(runs)} + {int(r.df['baseline'].sum())} "
            f"| {runs['seed'].nunique()} | {int(runs['preemptions'].sum())} ({int((runs['preemptions'] == 0).sum())}) "
            f"| {stats.mean_ci(runs['savings']).text(100, '.1f', '%')} | {r.discount:.1%} "
            f"| {stats.mean_ci(runs['wasted_emulated_s']).text(1, '.0f')} | {r.R:.0f} | {r.R_billed:.0f} | {emerg} |")
    return lines + ["", "Savings compare each run's Spot bill with an uninterrupted on-demand run of the same "
                    "work (spotshield/billing.py); ± is the half-width of the 95% Student-t interval over the "
                    "runs (per condition and seed in each regime's report). R billed is the part of R that a VM "
                    "bills (the dying VM's shutdown, the new VM's start-up); no VM exists in the repair gap "
                    "between them, so it bills nothing.", ""]


def seed_verdict(r: Regime) -> tuple[bool, str]:
    """Does the seed study's finding reproduce in this regime? (reproduced, the sentence saying why)"""
    from spotshield.analysis import stats

    runs = r.runs
    s = stats.mean_ci(runs["savings"])
    gap = 100 * (r.discount - s.mean)
    wasted = int(runs["wasted_steps"].sum())
    pre = int(runs["preemptions"].sum())
    missed = int(runs["emergency_missed"].sum())
    ok = gap <= SEED_GAP_POINTS and wasted == 0
    text = (f"savings {s.text(100, '.1f', '%')} against the {r.discount:.1%} price discount: {gap:.1f} points below "
            f"it (criterion: within {SEED_GAP_POINTS:g}); wasted compute {wasted} steps over {pre} preemptions "
            f"({missed} emergency checkpoints missed their deadline; criterion: 0 steps). "
            + ("**The seed's finding reproduces.**" if ok else "**The seed's finding does not reproduce.**"))
    return ok, text


def _strategies(regimes: list[Regime]) -> list[str]:
    from spotshield.analysis import stats

    names = sorted({s for r in regimes for s in r.runs["strategy"].unique()})
    lines = ["## Strategies, regime by regime", "",
             "Savings per strategy (mean ± 95% CI over seeds), then every pair compared paired by seed: the seed "
             "fixes the preemption schedule, so both strategies met the same preemptions.", "",
             "| regime | " + " | ".join(names) + " |", "|" + "---|" * (1 + len(names))]
    for r in regimes:
        cells = [stats.mean_ci(r.runs[r.runs["strategy"] == s]["savings"]).text(100, ".1f", "%") for s in names]
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    lines.append("")
    for r in regimes:
        comps = stats.strategy_comparisons(r.df, "savings")
        noisy = sum(c.within_noise for _, c in comps)
        lines.append(f"- **{r.name}** ({noisy} of {len(comps)} differences within the noise of the seeds): "
                     + "; ".join(c.verdict() for _, c in comps) + ".")
    return lines + [""]


def _parts(regimes: list[Regime]) -> list[str]:
    from spotshield.analysis.metrics import RECOVERY_PARTS
    from spotshield.analysis.report import PART_NAMES

    lines = ["## Restart time R in three parts (emulated s)", "",
             "Medians over every recovery of the regime (notice → next training step). Under guest_time real "
             "the guest's own shutdown and start-up run at 1x: the real seconds they take on this host; the "
             "repair gap is the emulator's model of the managed group's.", "",
             "| regime | recoveries | " + " | ".join(PART_NAMES[p] for p in RECOVERY_PARTS)
             + " | R (median) | R billed (median) |",
             "|" + "---|" * (4 + len(RECOVERY_PARTS))]
    for r in regimes:
        totals = _flat(r.runs["recoveries_emulated_s"])
        cells = []
        for p in RECOVERY_PARTS:
            vals = _flat(r.runs[f"{p}_emulated_s"])
            cells.append(f"{statistics.median(vals):.0f}" if vals else "n/a")
        lines.append(f"| {r.name} | {len(totals)} | " + " | ".join(cells) + f" | {r.R:.0f} | {r.R_billed:.0f} |")
    return lines + ["", "The emulator starts the boot script as soon as its VM is RUNNING; on a real VM the OS "
                    "boot, the GPU driver and the build's install come first and are billed, so a real R billed is "
                    "tens of seconds to minutes: read the next table at your own VM's.", ""]


def _break_even(regimes: list[Regime]) -> list[str]:
    from spotshield.analysis import restart_curve

    r0 = regimes[0]
    measured: dict[int, list[str]] = {}  # the regimes' own R billed, several regimes may share one
    for r in regimes:
        if r.R_billed > 0:
            measured.setdefault(round(r.R_billed), []).append(r.name)
    rs = sorted(set(restart_curve.R_VALUES_S) | set(measured))
    rates = restart_curve.RATES_PER_H
    lines = ["## Break-even as a function of R", "",
             "Read off your own VM's R: the restart seconds a preemption costs in VM time (the dying VM's "
             "shutdown and the new VM's start-up up to its first step; the repair gap bills nothing), seconds "
             "of the VM's clock. Model: "
             "spotshield/youngdaly.py at the optimal interval, with each regime's measured checkpoint stall C "
             f"and the prices (discount {r0.discount:.1%}); bold rows are the regimes' own R billed. "
             "At C ≈ 0 the break-even is about ln(on-demand / spot) × 3600 / R.", "",
             "| R (s) | " + " | ".join(f"break-even at {r.name}'s C = {r.C:.3g} s (/h)" for r in regimes) + " | "
             + " | ".join(f"savings at {x:g}/h" for x in rates) + " |",
             "|" + "---|" * (1 + len(regimes) + len(rates))]
    for R in rs:
        bes = []
        for r in regimes:
            be = restart_curve.curve(max(r.C, 1e-6), r.spot, r.od, r_values=(R,), rates=())[0].break_even_per_h
            bes.append("never" if math.isinf(be) else f"{be:.3g}")
        sav = restart_curve.curve(max(r0.C, 1e-6), r0.spot, r0.od, r_values=(R,))[0].savings
        name = f"**{R:.0f} ({', '.join(measured[R])})**" if R in measured else f"{R:.0f}"
        lines.append(f"| {name} | " + " | ".join(bes) + " | " + " | ".join(f"{sav[x]:.1%}" for x in rates) + " |")
    return lines + ["", f"Savings columns at {r0.name}'s C.", ""]


def _accuracy(regimes: list[Regime]) -> list[str]:
    from spotshield.analysis.report import _accuracy_line

    lines = ["## Accuracy against the same seed's baseline", ""]
    for r in regimes:
        lines.append(f"- {r.name}: " + _accuracy_line(r.df).removeprefix("- "))
    return lines + [""]


def _advise(regimes: list[Regime]) -> list[str]:
    from spotshield.analysis import advice_check

    lines = ["## `spotshield advise` against these runs", "",
             "Each Spot run's billed cost against advise's expected cost at that run's own preemption rate, with "
             f"the regime's C and R billed, the rate per VM hour; tolerance ±{advice_check.STUDY_TOLERANCE:.0%} of the cost "
             "(spotshield/analysis/advice_check.py; tests/analysis/test_advice_check.py asserts these on the "
             "committed runs). Advise assumes no work is lost beyond its optimal interval, which emergency "
             "checkpoints make true.", "",
             "| regime | runs (preempted) | measured − advised | within tolerance | at the runs' own intervals (Daly) |",
             "|---|---|---|---|---|"]
    for r in regimes:
        chk = advice_check.check_study(r.df, r.C, r.R_billed, r.spot, r.od)
        lines.append(f"| {r.name} | {chk.runs} ({chk.preempted_runs}) | {chk.gap.text(100, '+.1f', '%')} | "
                     f"{'yes' if chk.ok else '**no**'} | {chk.gap_own_interval.text(100, '+.1f', '%')} |")
    return lines + ["", "Replays of the real traces are in each regime's report (How far to trust "
                    "`spotshield advise`).", ""]


def write_overview(folders: list[Path], out: Path) -> Path:
    """docs/study/report.md from the regime folders, in the order given."""
    regimes = [load_regime(f) for f in folders]
    if not regimes:
        raise SpotShieldError("give at least one regime folder")
    lines = ["# SpotShield study: three regimes", "",
             f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `spotshield study-overview` from "
             f"{', '.join(f'`{r.folder.name}/`' for r in regimes)} (each with its own report.md, tables and "
             "figures, and the raw events in data/). Every duration is in emulated seconds: the emulator runs 60 "
             "emulated s per real s, except a guest's own start-up and shutdown, which count 1x (guest_time real, "
             "spotshield/analysis/emulated.py); costs are billed VM time at the price table's g2-standard-4 + L4 "
             "prices.", ""]
    for r in regimes:
        desc = " ".join(str(r.grid.get("description", "")).split())
        lines.append(f"- **{r.name}**: {desc}")
    lines.append("")
    lines += _glance(regimes)
    seed = next((r for r in regimes if r.name == "seed"), None)
    if seed is not None:
        lines += ["## The seed's finding", "", "In the seed's regime (epochs far shorter than the time between "
                  "preemptions, emergency checkpoints on): " + seed_verdict(seed)[1], ""]
    lines += _strategies(regimes) + _parts(regimes) + _break_even(regimes) + _accuracy(regimes) + _advise(regimes)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    return out
