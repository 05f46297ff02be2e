"""`spotshield experiment`, `spotshield analyze`, `spotshield advise`: the study harness.

Heavy imports (pandas, matplotlib) stay inside the commands so `spotshield --help` is fast.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer

from spotshield.errors import SpotShieldError


def _fmt_rate(per_h: float) -> str:
    return "never (spot is always cheaper)" if math.isinf(per_h) else f"{per_h:.3g} per hour"


def register(app: typer.Typer) -> None:
    @app.command("advise", help="Optimal checkpoint interval, expected waste and spot vs on-demand cost "
                                "for a preemption rate, checked against a simulation.")
    def advise(
        rate: float = typer.Option(1.0, "--rate", help="Preemptions per hour."),
        checkpoint_s: Optional[float] = typer.Option(None, "--checkpoint-s", help="Training stall per checkpoint, seconds."),
        restart_s: Optional[float] = typer.Option(
            None, "--restart-s", help="Restart time a preemption costs in VM time, seconds: the dying VM's shutdown "
                                      "plus the new VM's boot up to its first step (not the gap with no VM)."),
        spot_price: Optional[float] = typer.Option(None, "--spot-price", help="Spot USD per hour (default: price table)."),
        ondemand_price: Optional[float] = typer.Option(None, "--ondemand-price", help="On-demand USD per hour (default: price table)."),
        machine: str = typer.Option("g2-standard-4", "--machine", help="Machine type looked up in the price table."),
        gpu: str = typer.Option("nvidia-l4", "--gpu", help="GPU type added to the machine's price ('none' for no GPU)."),
        measured: Optional[Path] = typer.Option(None, "--from", help="An analyze output folder: take C and R from its metrics_summary.csv."),
        simulate_runs: int = typer.Option(2000, "--simulate", help="Simulated runs for the cross-check (0 = skip)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the simulation."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        from spotshield import youngdaly
        from spotshield.analysis import advice_check
        from spotshield.billing import resolve_rate

        if measured is not None:
            from spotshield.analysis.measured import measured_costs

            from spotshield.cli.common import err_console

            mc, mr = measured_costs(measured)
            checkpoint_s = mc if checkpoint_s is None else checkpoint_s
            restart_s = mr if restart_s is None else restart_s
            err_console.print(f"from {measured}: C = {mc:.3g} s, R = {mr:.3g} s (the restart time VMs bill, "
                              "emulated s; a real VM adds its OS boot: pass --restart-s for yours)", markup=False)
        if checkpoint_s is None or restart_s is None:
            raise SpotShieldError("give --checkpoint-s and --restart-s (or --from an analyze folder with measured runs)")
        if simulate_runs < 0:
            raise SpotShieldError(f"--simulate must be >= 0, not {simulate_runs}")
        price = resolve_rate(spot_price, ondemand_price, machine, None if gpu == "none" else gpu)
        spot, od = price.spot, price.on_demand
        a = youngdaly.advise(rate, checkpoint_s, restart_s, spot, od)
        check = advice_check.check_advice(a, runs=simulate_runs, seed=seed) if simulate_runs else None
        out = {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in a.__dict__.items()}
        if check:
            out["simulation"] = {**check.__dict__, "ok": check.ok, "runs": simulate_runs}
        if as_json:
            typer.echo(json.dumps(out, indent=2))
        else:
            from rich.table import Table

            from spotshield.cli.common import console

            t = Table(title=f"Advice at {rate:g} preemptions/h (MTBP {a.mtbf_s:.0f} s), C={a.checkpoint_s:g} s, R={a.restart_s:g} s")
            t.add_column("quantity")
            t.add_column("value", justify="right")
            t.add_row("Young interval sqrt(2CM)", f"{a.young_s:.1f} s")
            t.add_row("Daly higher-order interval", f"{a.daly_s:.1f} s")
            t.add_row("exact optimum (Daly's expectation)", f"{a.optimal_s:.1f} s")
            t.add_row("expected waste at Young / Daly", f"{a.waste_at_young:.1%} / {a.waste_at_daly:.1%}")
            t.add_row("expected spot / on-demand cost", f"{a.cost_ratio:.2f}  (spot ${spot:g}/h, on-demand ${od:g}/h)")
            t.add_row("spot stops paying off above", _fmt_rate(a.break_even_per_h))
            if check:
                verdict = "ok" if check.ok else "MISMATCH"
                t.add_row("simulation check", f"{check.simulated_wall_ratio:.4f} vs {check.formula_wall_ratio:.4f} "
                          f"({check.relative_error:.2%}, tolerance {check.tolerance:.0%}) {verdict}")
            console.print(t)
        if check and not check.ok:
            raise SpotShieldError(f"simulation disagrees with the formula by {check.relative_error:.2%} "
                                  f"(tolerance {check.tolerance:.0%})")

    @app.command("analyze", help="Verify the events of a study and write tables, figures and report.md.")
    def analyze(
        results: str = typer.Argument(..., help="Results folder of `spotshield experiment` (or a store URL)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: RESULTS/analysis)."),
        force: bool = typer.Option(False, "--force", help="Analyse even when verification fails (with a warning)."),
        spot_price: Optional[float] = typer.Option(None, "--spot-price", help="Spot USD per hour (default: price table)."),
        ondemand_price: Optional[float] = typer.Option(None, "--ondemand-price", help="On-demand USD per hour (default: price table)."),
        machine: str = typer.Option("g2-standard-4", "--machine", help="Machine type looked up in the price table."),
        gpu: str = typer.Option("nvidia-l4", "--gpu", help="GPU type added to the machine's price ('none' for no GPU)."),
        time_scale: Optional[float] = typer.Option(
            None, "--time-scale", min=0.0001,
            help="Emulated seconds per real second of the events (default: grid.json's, else 1: real time)."),
        guest_time: Optional[str] = typer.Option(
            None, "--guest-time",
            help="The emulator's time model of the events: real (a guest's own start-up and shutdown at 1x; "
                 "`spotshield up`'s) or scaled (default: grid.json's, else scaled)."),
    ) -> None:
        from spotshield.analysis.analyze import run_analysis
        from spotshield.cli.common import err_console

        if out is None:
            if "://" in results:
                raise SpotShieldError("give --out when analysing a store URL")
            out = Path(results) / "analysis"
        a = run_analysis(results, out, spot_price=spot_price, ondemand_price=ondemand_price,
                         machine=machine, gpu=None if gpu == "none" else gpu, force=force, time_scale=time_scale,
                         guest_time=guest_time)
        for w in a.warnings:
            err_console.print(f"[yellow]warning:[/yellow] {w}", markup=True, emoji=False)
        typer.echo(f"analysed {a.runs} runs -> {a.out}")
        typer.echo(f"  tables:  {a.summary_csv.name}, {a.conditions_csv.name}")
        typer.echo(f"  figures: {', '.join(a.figures.values())} (+ PDF)")
        typer.echo(f"  report:  {a.report}")
        typer.echo(f"  measured C = {a.checkpoint_s:.3g} s, R = {a.restart_s:.3g} s (VMs bill {a.restart_billed_s:.3g} s of it); "
                      f"spot stops paying off above {_fmt_rate(a.break_even_per_h)}")

    @app.command("study-overview", help="One report across study regimes (docs/study/report.md) from their "
                                        "analyze folders, each holding its raw runs in data/.")
    def study_overview(
        folders: list[Path] = typer.Argument(..., help="Regime folders (e.g. docs/study/seed docs/study/hazard)."),
        out: Path = typer.Option(Path("docs/study/report.md"), "--out", "-o", envvar="SPOTSHIELD_STUDY_REPORT",
                                 help="The report to write."),
    ) -> None:
        from spotshield.analysis.overview import write_overview

        typer.echo(f"wrote {write_overview(folders, out)}")

    @app.command("experiment", help="Run a grid of strategies x preemption patterns x seeds (+ on-demand baseline), "
                                    "one run after another; a finished run is never re-run.")
    def experiment(
        grid_file: Path = typer.Argument(..., help="Grid YAML (see spotshield/analysis/grids/)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Results folder (default: results/<grid name>)."),
        backend: Optional[str] = typer.Option(None, "--backend", "-b", help="Override the grid's backend: local | gcp | process."),
        analyze_after: bool = typer.Option(False, "--analyze", help="Run `spotshield analyze` on the results at the end."),
        data_dir: Optional[str] = typer.Option(
            None, "--data-dir", envvar="SPOTSHIELD_DATA_DIR",
            help="Where the trainer finds datasets (CIFAR-100's cifar-100-python/); a grid with "
                 "data_fallback: synthetic trains on synthetic data of its shape when it is not there."),
    ) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from spotshield.analysis.experiment import is_done, run_grid
        from spotshield.analysis.grid import BACKENDS, load_grid
        from spotshield.cli.common import err_console

        grid = load_grid(grid_file)
        if backend is not None:
            if backend not in BACKENDS:
                raise SpotShieldError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
            grid.backend = backend
        note = grid.use_data_dir(data_dir)
        if note:
            err_console.print(f"data: {note}", markup=False)
        out = out or Path("results") / grid.name
        specs = grid.runs()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=False) as bar:
            task = bar.add_task(f"grid {grid.name} ({grid.backend})", total=len(specs),
                                completed=sum(is_done(out, s) for s in specs))

            def on_run(spec, status):
                if status == "started":
                    bar.update(task, description=f"grid {grid.name}: {spec.run_id}")
                elif status == "done":
                    bar.advance(task)

            statuses = run_grid(grid, out, on_run=on_run, log=lambda m: bar.console.print(m, markup=False))
            bar.update(task, description=f"grid {grid.name}: done")
        typer.echo(f"{sum(1 for s in statuses.values() if s == 'done')}/{len(statuses)} runs done in {out}")
        if analyze_after:
            from spotshield.analysis.analyze import run_analysis

            a = run_analysis(str(out), out / "analysis", machine=grid.machine_type, gpu=grid.gpu_type)
            typer.echo(f"analysis: {a.report}")
