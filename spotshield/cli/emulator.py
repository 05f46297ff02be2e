"""`spotshield local start | stop | status | preempt`: the emulator daemon on its own.

`spotshield up` starts it when needed; these commands are for running it by hand (the study,
debugging): state lives in .spotshield/local/ so any shell in the repo finds it.
"""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from spotshield.cli.common import console


def register(app: typer.Typer) -> None:
    local = typer.Typer(help="Run the local GCP emulator (Compute API, metadata, fake-gcs-server, preemptions).",
                        no_args_is_help=True)

    @local.command(help="Start the emulator in the background.")
    def start(
        time_scale: Annotated[float, typer.Option("--time-scale", envvar="SPOTSHIELD_TIME_SCALE",
                              help="Emulated seconds per real second.")] = 60.0,
        pattern: Annotated[str, typer.Option("--pattern", envvar="SPOTSHIELD_PATTERN",
                           help="none, regular, poisson, bursty or trace.")] = "none",
        rate: Annotated[float, typer.Option("--rate", envvar="SPOTSHIELD_RATE",
                        help="Preemptions per emulated hour, per group.")] = 0.0,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the preemption schedule.")] = 0,
        trace: Annotated[Optional[str], typer.Option("--trace", envvar="SPOTSHIELD_TRACE",
                         help="CSV of preempted_at_s (default: the packaged real trace).")] = None,
        compute_port: Annotated[Optional[int], typer.Option("--compute-port", help="Default: a free port.")] = None,
        gcs_port: Annotated[Optional[int], typer.Option("--gcs-port", help="Default: a free port.")] = None,
    ) -> None:
        from spotshield.local import daemon

        rec = daemon.start(time_scale=time_scale, pattern=pattern, rate=rate, seed=seed, trace=trace,
                           compute_port=compute_port, gcs_port=gcs_port)
        console.print(f"emulator up (pid {rec['pid']}): compute {rec['endpoints']['compute']}  "
                      f"storage {rec['endpoints']['storage']}  state {rec['state_dir']}")

    @local.command(help="Stop the emulator and every emulated VM (checkpoints stay on disk).")
    def stop() -> None:
        from spotshield.local import daemon

        console.print("emulator stopped" if daemon.stop() else "the emulator was not running")

    @local.command(help="Show the emulator's endpoints, injector, instances and cost.")
    def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
        from spotshield.errors import SpotShieldError
        from spotshield.local import daemon

        rec = daemon.read_state()
        if rec is None:
            raise SpotShieldError("the local emulator is not running; start it with 'spotshield local start'")
        st = daemon.request(rec, "GET", "/spotshield/v1/status")
        st["cost"] = {k: v for k, v in daemon.request(rec, "GET", "/spotshield/v1/cost").items()
                      if k in ("hours", "spot_usd", "on_demand_vm_usd", "spent_usd", "on_demand_same_hours_usd",
                               "price_discount_pct")}
        st["capacity"] = daemon.request(rec, "GET", "/spotshield/v1/capacity")
        if as_json:
            typer.echo(json.dumps(st, indent=2, sort_keys=True))
            return
        inj = st["injector"]
        console.print(f"emulator pid {st['pid']}  compute {st['endpoints']['compute']}  "
                      f"storage {st['endpoints']['storage']}  x{st['time_scale']:g}")
        console.print(f"preemptions: {inj['pattern']} at {inj['rate']:g}/h (seed {inj['seed']}): "
                      f"{inj['preemptions']} done, {inj['skipped']} skipped")
        for i in st["instances"]:
            console.print(f"  {i['name']:<24} {i['zone']:<16} {i['status']:<12} {i['action']:<10} boots {i['boots']}")
        c = st["cost"]
        if c.get("spot_usd") is not None:
            discount = c.get("price_discount_pct")
            dry = [z for z, v in st["capacity"].items() if not v["available"]]
            if dry:
                console.print(f"spot capacity: none now in {', '.join(dry)}")
            if c.get("on_demand_vm_usd"):  # a deadline's on-demand VMs, at the on-demand price
                console.print(f"spent: ${c['spent_usd']:.4f} (${c['spot_usd']:.4f} spot VMs + "
                              f"${c['on_demand_vm_usd']:.4f} on-demand VMs)")
            console.print(f"cost: ${c['spot_usd']:.4f} spot spent over {c['hours']:.3f} billed instance-hours "
                          f"(emulated); ${c['on_demand_same_hours_usd']:.4f} for the same hours on demand"
                          + (f" (price discount {discount:.1f}%)" if discount is not None else ""))

    @local.command(help="Preempt one running instance now (a named one, or one chosen by the injector).")
    def preempt(instance: Annotated[Optional[str], typer.Argument(help="Instance name.")] = None) -> None:
        from spotshield.errors import SpotShieldError
        from spotshield.local import daemon

        rec = daemon.read_state()
        if rec is None:
            raise SpotShieldError("the local emulator is not running")
        out = daemon.request(rec, "POST", "/spotshield/v1/preempt", {"instance": instance} if instance else {})
        console.print(f"{out.get('instance') or 'no running instance'}: {out['outcome']}")

    app.add_typer(local, name="local")
