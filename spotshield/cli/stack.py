"""`spotshield up | status | down (teardown) | plan | logs`: the stack lifecycle.

A thin layer: options come in (CLI > SPOTSHIELD_* env > spotshield.yaml / [tool.spotshield]
> defaults), a Backend (spotshield/backends/, made by name) does the work, and
.spotshield/stack.json (spotshield/backends/record.py) records what is up for every other shell.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from spotshield.cli.common import console, err_console

PRECEDENCE = "Precedence: command line > SPOTSHIELD_* env > spotshield.yaml / [tool.spotshield] > defaults."
# How often the live view re-reads the Compute API and the bucket: cheap reads, fresh enough.
REFRESH_S = 2.0

Strategy = Annotated[Optional[str], typer.Option("--strategy", "-s", envvar="SPOTSHIELD_STRATEGY",
                     help="Checkpoint strategy: naive, adaptive, milestone or none.")]
Backend = Annotated[Optional[str], typer.Option("--backend", "-b", envvar="SPOTSHIELD_BACKEND",
                    help="local (the emulator; default without a project) or gcp.")]
Config = Annotated[Optional[Path], typer.Option("--config", "-c", envvar="SPOTSHIELD_CONFIG",
                   help="Trainer YAML layered over the presets (model, data, epochs, ...).")]
Pattern = Annotated[Optional[str], typer.Option("--pattern", envvar="SPOTSHIELD_PATTERN",
                    help="local: preemption pattern: none, regular, poisson, bursty or trace.")]
Rate = Annotated[Optional[float], typer.Option("--rate", envvar="SPOTSHIELD_RATE",
                 help="local: preemptions per emulated hour (>= 0).")]
Project = Annotated[Optional[str], typer.Option("--project", envvar="SPOTSHIELD_PROJECT",
                    help="GCP project id; setting one makes gcp the default backend.")]
Region = Annotated[Optional[str], typer.Option("--region", envvar="SPOTSHIELD_REGION", help="GCP region.")]
Zones = Annotated[Optional[str], typer.Option("--zones", envvar="SPOTSHIELD_ZONES",
                  help="Comma-separated zones of the region the group may use.")]
Name = Annotated[Optional[str], typer.Option("--name", envvar="SPOTSHIELD_NAME",
                 help="Prefix of every resource (<name>-mig, ...).")]
MachineType = Annotated[Optional[str], typer.Option("--machine-type", envvar="SPOTSHIELD_MACHINE_TYPE",
                        help="Compute Engine machine type, e.g. g2-standard-4.")]
GpuType = Annotated[Optional[str], typer.Option("--gpu-type", envvar="SPOTSHIELD_GPU_TYPE",
                    help="Accelerator type, e.g. nvidia-l4.")]
GpuCount = Annotated[Optional[int], typer.Option("--gpu-count", envvar="SPOTSHIELD_GPU_COUNT",
                     help="GPUs per instance.")]
FleetSize = Annotated[Optional[int], typer.Option("--fleet-size", envvar="SPOTSHIELD_FLEET_SIZE",
                      help="Target size of the managed instance group; above 1, one --command job under torchrun.")]
MinNodes = Annotated[Optional[int], typer.Option("--min-nodes", envvar="SPOTSHIELD_MIN_NODES",
                     help="Fewest nodes a torchrun job trains on (default: the fleet size, so a resume is exact).")]
CompactPlacement = Annotated[Optional[bool], typer.Option(
    "--compact-placement/--no-compact-placement", envvar="SPOTSHIELD_COMPACT_PLACEMENT",
    help="gcp: keep the job's VMs close together in one zone (a compact placement policy; "
         "fewer zones, less Spot capacity). The emulator places nothing.")]
Bucket = Annotated[Optional[str], typer.Option("--bucket", envvar="SPOTSHIELD_BUCKET",
                   help="Checkpoint bucket (default <project>-<name>-ckpt, or spotshield-local).")]
RunId = Annotated[Optional[str], typer.Option("--run-id", envvar="SPOTSHIELD_RUN_ID",
                  help="Run id (default <strategy>-<UTC time>); reuse one to resume it.")]
TimeScale = Annotated[Optional[float], typer.Option("--time-scale", envvar="SPOTSHIELD_TIME_SCALE",
                      help="local: emulated seconds per real second.")]
Deadline = Annotated[Optional[str], typer.Option(
    "--deadline", envvar="SPOTSHIELD_DEADLINE",
    help="Finish by then, as cheaply as possible: 8h, 90m, 1h30m or an ISO 8601 time (UTC without an offset; "
         "local: on the emulated clock). Spot first, on-demand when spot capacity or time runs out.")]
DeadlinePolicy = Annotated[Optional[str], typer.Option(
    "--deadline-policy", envvar="SPOTSHIELD_DEADLINE_POLICY",
    help="With --deadline: uniform-progress (default), greedy, fallback, on-demand or spot.")]
StepTime = Annotated[Optional[float], typer.Option(
    "--step-time", envvar="SPOTSHIELD_STEP_TIME_S",
    help="With --deadline: seconds per training step on this machine, to size the job before its first run.")]
SpotCapacity = Annotated[Optional[str], typer.Option(
    "--spot-capacity", envvar="SPOTSHIELD_SPOT_CAPACITY",
    help="local: spot capacity in every zone from a trace (name or CSV); spotshield.yaml takes one per zone.")]
Command = Annotated[Optional[str], typer.Option(
    "--command", envvar="SPOTSHIELD_COMMAND",
    help="Run your own training command on each VM (in the shipped --workdir) instead of the built-in trainer, "
         "e.g. 'python train.py --epochs 5'. Exit 75 = preempted (resumed on the next VM), 0 with DONE = finished.")]
Workdir = Annotated[Optional[Path], typer.Option(
    "--workdir", envvar="SPOTSHIELD_WORKDIR",
    help="With --command: the folder packed (honouring .gitignore) and shipped to each VM (default: the current one).")]


DOWN_HELP = "Stop the fleet. Checkpoints stay unless --delete-checkpoints is given and confirmed."
DownBackend = Annotated[Optional[str], typer.Option(
    "--backend", "-b", envvar="SPOTSHIELD_BACKEND",
    help="Which backend to stop (default: the one recorded by 'up').")]
# No envvar for these two on purpose: deleting checkpoints must be asked for on the command line.
DeleteCkpt = Annotated[bool, typer.Option("--delete-checkpoints", help="Also delete checkpoints and events.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting checkpoints.")]


def _settings(**cli):
    from spotshield.settings import load_settings

    return load_settings(cli)


def _echo(line: str) -> None:
    console.print(line, markup=False, highlight=False)


def _watch(rec, until_done: bool, interval: float = REFRESH_S) -> None:
    """Rich Live view; Ctrl-C detaches (the stack keeps running)."""
    from rich.live import Live

    from spotshield.status.collect import collect
    from spotshield.status.render import render

    try:
        with Live(render(collect(rec)), console=console, refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval)
                data = collect(rec)
                live.update(render(data))
                if until_done and data["progress"]["state"] == "DONE":
                    break
    except KeyboardInterrupt:
        err_console.print("detached: the stack keeps running. 'spotshield status' shows it, "
                          "'spotshield down' stops it.")
        return
    if not console.is_terminal:
        console.line()  # Live leaves its last frame without a newline when output is a file
    console.print("run DONE: 'spotshield status' shows the summary until 'spotshield down'.")


def register(app: typer.Typer) -> None:
    @app.command(help=f"Start a fleet and a training run, then follow it live. {PRECEDENCE}")
    def up(
        strategy: Strategy = None, backend: Backend = None, config: Config = None,
        pattern: Pattern = None, rate: Rate = None,
        detach: Annotated[bool, typer.Option("--detach", "-d", envvar="SPOTSHIELD_DETACH",
                          help="Return once the fleet is up instead of following the run.")] = False,
        project: Project = None, region: Region = None, zones: Zones = None, name: Name = None,
        machine_type: MachineType = None, gpu_type: GpuType = None, gpu_count: GpuCount = None,
        fleet_size: FleetSize = None, bucket: Bucket = None, run_id: RunId = None,
        time_scale: TimeScale = None,
        wait_timeout: Annotated[float, typer.Option("--wait-timeout", envvar="SPOTSHIELD_WAIT_TIMEOUT",
                                help="gcp: seconds to wait for the group to be stable.")] = 900.0,
        deadline: Deadline = None, deadline_policy: DeadlinePolicy = None, step_time: StepTime = None,
        spot_capacity: SpotCapacity = None, command: Command = None, workdir: Workdir = None,
        min_nodes: MinNodes = None, compact_placement: CompactPlacement = None,
    ) -> None:
        from spotshield import backends
        from spotshield.backends.record import load_record, save_record
        from spotshield.errors import SpotShieldError
        from spotshield.settings import default_run_id

        s = _settings(strategy=strategy, backend=backend, trainer_config=str(config) if config else None,
                      pattern=pattern, rate=rate, project=project, region=region, zones=zones, name=name,
                      machine_type=machine_type, gpu_type=gpu_type, gpu_count=gpu_count,
                      fleet_size=fleet_size, bucket=bucket, run_id=run_id, time_scale=time_scale,
                      deadline=deadline, deadline_policy=deadline_policy, step_time_s=step_time,
                      spot_capacity=spot_capacity, command=command, workdir=str(workdir) if workdir else None,
                      min_nodes=min_nodes, compact_placement=compact_placement)
        existing = load_record(required=False)
        if existing is not None:
            raise SpotShieldError(f"a stack is already up ({existing.backend}, run {existing.run_id}); "
                                  "run 'spotshield down' first")
        s.run_id = s.run_id or default_run_id(s.strategy)
        saved = []
        rec = backends.make(s.backend).up(s, echo=_echo, on_record=lambda r: saved.append(save_record(r)),
                                          wait_timeout_s=wait_timeout)
        path = saved[-1]
        console.print(f"up: {s.backend} stack {s.name}, run {s.run_id} ({s.strategy}); recorded in {path}")
        if detach:
            console.print("follow it with 'spotshield status --watch'; stop it with 'spotshield down'")
            return
        _watch(rec, until_done=True)

    @app.command(help="Show the stack, its instances, training progress, checkpoints, preemptions and cost. "
                      "Reads only the Compute API and the bucket.")
    def status(
        watch: Annotated[bool, typer.Option("--watch", "-w", envvar="SPOTSHIELD_WATCH",
                         help="Refresh in place until Ctrl-C.")] = False,
        as_json: Annotated[bool, typer.Option("--json", envvar="SPOTSHIELD_JSON",
                           help="Print the same data as one JSON document.")] = False,
        interval: Annotated[float, typer.Option("--interval", envvar="SPOTSHIELD_INTERVAL", min=0.2,
                            help="Seconds between refreshes with --watch.")] = REFRESH_S,
    ) -> None:
        from spotshield.backends.record import load_record
        from spotshield.errors import SpotShieldError
        from spotshield.status.collect import collect
        from spotshield.status.render import render

        rec = load_record()
        if watch and as_json:
            raise SpotShieldError("--watch and --json do not mix; use one")
        if watch:
            _watch(rec, until_done=False, interval=interval)
            return
        data = collect(rec)
        if as_json:
            typer.echo(json.dumps(data, indent=2, sort_keys=True))
        else:
            console.print(render(data))

    def _down(backend: Optional[str], delete_checkpoints: bool, yes: bool) -> None:
        from spotshield import backends
        from spotshield.backends.record import clear_record, load_record
        from spotshield.errors import SpotShieldError

        rec = None
        if backend is None:
            rec = load_record()  # errors clearly when nothing is up or the record is corrupt
            backend = rec.backend
        else:
            try:
                rec = load_record(required=False)
            except SpotShieldError:
                rec = None  # corrupt: --backend says what to stop; the file is left for the user
        stack = backends.make(backend)  # an unknown name is one line
        if delete_checkpoints and not yes:
            typer.confirm("Delete every checkpoint and event of this stack? This cannot be undone",
                          abort=True, err=True)
        ours = rec if rec is not None and rec.backend == backend else None
        note = stack.down(ours, delete_checkpoints=delete_checkpoints, echo=_echo)
        if note:
            err_console.print(note)
        if ours is not None:
            clear_record()
        kept = "checkpoints deleted" if delete_checkpoints else "checkpoints kept"
        console.print(f"down: {backend} stack stopped; {kept}")

    down_help = DOWN_HELP

    @app.command(help=down_help)
    def down(backend: DownBackend = None, delete_checkpoints: DeleteCkpt = False, yes: Yes = False) -> None:
        _down(backend, delete_checkpoints, yes)

    @app.command(help=f"Alias of down. {down_help}")
    def teardown(backend: DownBackend = None, delete_checkpoints: DeleteCkpt = False, yes: Yes = False) -> None:
        _down(backend, delete_checkpoints, yes)

    @app.command(help=f"Show what up would create: terraform plan (gcp) or the emulator's resources (local). "
                      f"{PRECEDENCE}")
    def plan(
        strategy: Strategy = None, backend: Backend = None, config: Config = None,
        pattern: Pattern = None, rate: Rate = None, project: Project = None, region: Region = None,
        zones: Zones = None, name: Name = None, machine_type: MachineType = None, gpu_type: GpuType = None,
        gpu_count: GpuCount = None, fleet_size: FleetSize = None, bucket: Bucket = None, run_id: RunId = None,
        as_json: Annotated[bool, typer.Option("--json", envvar="SPOTSHIELD_JSON",
                                              help="local: print the full plan (API bodies) as one JSON document.")] = False,
    ) -> None:
        from spotshield import backends
        from spotshield.settings import default_run_id

        s = _settings(strategy=strategy, backend=backend, trainer_config=str(config) if config else None,
                      pattern=pattern, rate=rate, project=project, region=region, zones=zones, name=name,
                      machine_type=machine_type, gpu_type=gpu_type, gpu_count=gpu_count,
                      fleet_size=fleet_size, bucket=bucket, run_id=run_id)
        s.run_id = s.run_id or default_run_id(s.strategy)
        result = backends.make(s.backend).plan(s, echo=_echo)
        if result is None:
            return  # the backend showed its plan (terraform plan)
        if as_json:
            typer.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
        else:
            from spotshield.cli.plan_view import local_plan_table

            console.print(local_plan_table(result))

    @app.command(help="Print the run's events (or one instance's log); --follow keeps tailing.")
    def logs(
        instance: Annotated[Optional[str], typer.Option("--instance", "-i", envvar="SPOTSHIELD_INSTANCE",
                            help="Show this instance's log (serial console / emulator log) instead of events.")] = None,
        follow: Annotated[bool, typer.Option("--follow", "-f", envvar="SPOTSHIELD_FOLLOW",
                                                help="Keep printing new lines until Ctrl-C.")] = False,
        lines: Annotated[int, typer.Option("--lines", "-n", min=0, envvar="SPOTSHIELD_LINES",
                                                help="How many recent lines to start with.")] = 20,
    ) -> None:
        from spotshield.backends.record import load_record
        from spotshield.status.logs import event_lines, instance_log

        rec = load_record()
        fetch = (lambda: instance_log(rec, instance)) if instance else (lambda: event_lines(rec))
        seen = fetch()
        for line in seen[-lines:] if lines else []:
            typer.echo(line)
        try:
            while follow:
                time.sleep(REFRESH_S)
                now = fetch()
                start = len(seen) if now[:len(seen)] == seen else 0
                for line in now[start:]:
                    typer.echo(line)
                seen = now
        except KeyboardInterrupt:
            return
