"""The local backend's plan as a short table: what `up` would create, one row per resource."""
from __future__ import annotations

from rich.table import Table


def _zones(mig: dict) -> str:
    zones = [z.get("zone", "").rsplit("/", 1)[-1] for z in mig.get("distributionPolicy", {}).get("zones", [])]
    return ", ".join(z for z in zones if z) or "-"


def local_plan_table(plan: dict) -> Table:
    tpl = plan.get("instance_template", {})
    props = tpl.get("properties", {})
    mig = plan.get("region_instance_group_manager", {})
    gpus = ", ".join(f"{g.get('acceleratorCount')}x {g.get('acceleratorType')}" for g in props.get("guestAccelerators", []))
    sched = props.get("scheduling", {})
    heal = (mig.get("autoHealingPolicies") or [{}])[0]
    pre = plan.get("preemptions", {})
    emu = plan.get("emulator", {})
    rate = pre.get("rate_per_hour")
    t = Table(title="spotshield up (local) would create", title_justify="left")
    for col in ("resource", "name", "details"):
        t.add_column(col)
    t.add_row("emulator", emu.get("state_dir", "-"),
              ("running" if emu.get("running") else "started by up") + f", time x{emu.get('time_scale', '?')}")
    t.add_row("bucket", str(plan.get("bucket", "-")), "fake-gcs-server, filesystem backend (checkpoints survive restarts)")
    t.add_row("build", str(plan.get("build", {}).get("id", "-")), str(plan.get("build", {}).get("url", "")))
    t.add_row("instance template", str(tpl.get("name", "-")),
              " ".join(x for x in (props.get("machineType", ""), f"+ {gpus}" if gpus else "",
                                   sched.get("provisioningModel", "").lower()) if x))
    t.add_row("managed group", str(mig.get("name", "-")),
              f"size {mig.get('targetSize', '?')} over {_zones(mig)}; auto-heal after "
              f"{heal.get('initialDelaySec', '?')} s")
    t.add_row("preemptions", str(pre.get("pattern", "-")),
              f"{rate:g} per emulated hour" if isinstance(rate, (int, float)) else "-")
    return t
