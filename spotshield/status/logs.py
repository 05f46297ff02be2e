"""Lines for `spotshield logs`: the run's events, or one instance's console log."""
from __future__ import annotations

import json
import time

from spotshield.backends.record import StackRecord
from spotshield.errors import SpotShieldError
from spotshield.events import read_events
from spotshield.status.collect import _summary, stack_env


def format_event(e: dict) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.get("t", 0)))
    return f"{stamp} {e.get('host', '-')}/{e.get('boot', '-')} {e.get('event')}: {_summary(e)}"


def event_lines(rec: StackRecord) -> list[str]:
    from spotshield.storage import open_store

    with stack_env(rec) as src:
        store = open_store(src.store)
        return [format_event(e) for e in read_events(store, rec.run_id)]


def instance_log(rec: StackRecord, name: str) -> list[str]:
    """The instance's serial console (Compute API getSerialPortOutput): same call on both backends."""
    from google.api_core import exceptions as gexc
    from google.cloud import compute_v1

    from spotshield.cloud.compute import Compute, client_kwargs

    with stack_env(rec) as src:
        found = {i.name: i for i in Compute(rec.project, rec.region, rec.mig, src.compute).list_instances()}
        if name not in found:
            known = ", ".join(sorted(found)) or "none"
            raise SpotShieldError(f"no instance {name!r} in {rec.mig}; instances: {known}")
        client = compute_v1.InstancesClient(**client_kwargs(src.compute))
        try:
            out = client.get_serial_port_output(project=rec.project, zone=found[name].zone, instance=name,
                                                timeout=10)
        except gexc.GoogleAPICallError as e:
            raise SpotShieldError(f"cannot read {name}'s console: {getattr(e, 'message', e)}") from None
        except Exception as e:
            raise SpotShieldError(f"cannot read {name}'s console ({type(e).__name__})") from None
    return (out.contents or "").splitlines()


def dumps(e: dict) -> str:
    return json.dumps(e, sort_keys=True)
