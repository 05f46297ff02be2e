"""What both framework adapters share: their settings, and one protected run of the framework
(DONE? start event, download the newest verified checkpoint, train, final export and DONE)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from spotshield.errors import SpotShieldError
from spotshield.library.session import Finished, Preempted, Session, install_excepthook
from spotshield.library.settings import resolve


class FrameworkShield:
    """A mixin for a framework's callback class. Settings as spotshield.Run's (arguments, else the
    boot script's environment); `accuracy` names the validation metric reported as accuracy."""

    client = "framework"

    def __init__(self, *, store: str | None = None, run_id: str | None = None, strategy: Any = None,
                 strategy_params: dict | None = None, checkpoint: Any = None, must_match: dict | None = None,
                 accuracy: str | None = None, info: dict | None = None, health_port: int | None = None,
                 metadata_watch: Any = "auto", log_every_s: float = 5.0, stall_timeout_s: float = 300.0, flag=None):
        super().__init__()
        install_excepthook()
        settings = resolve(store=store, run_id=run_id, health_port=health_port, strategy=strategy,
                           strategy_params=strategy_params, checkpoint=checkpoint, metadata_watch=metadata_watch,
                           log_every_s=log_every_s, stall_timeout_s=stall_timeout_s)
        self.session = Session(settings, flag=flag, client=self.client)
        self._must_match = dict(must_match or {})
        self._accuracy_key = accuracy
        self._info = dict(info or {})

    def _protected_run(self, *, start: Callable[[], dict], resume_dir: Path, marker_file: str,
                       train: Callable[[Path | None], None], final_step: Callable[[], int],
                       final_weights: Callable[[], dict], save: Callable) -> bool:
        """train(checkpoint folder or None) between the resume and the final export. False when
        the store already holds DONE; Preempted (exit 75) propagates after the emergency checkpoint."""
        s = self.session
        try:
            if not s.open():
                s.report_done()
                return False
            s.started(**{**start(), **self._info})
            shutil.rmtree(resume_dir, ignore_errors=True)
            found: dict = {}
            s.restore(lambda ck: ck.load_files(resume_dir), lambda folder, meta: found.update(path=folder),
                      self._must_match)
            if found and not (found["path"] / marker_file).is_file():
                raise SpotShieldError(f"the checkpoint at step {s.step} holds no {marker_file}; "
                                      f"it was not made by the {self.client} adapter")
            train(found.get("path"))
            s.step = final_step()
            s.finish(save, final_weights(), self._must_match)
            return True
        except BaseException as e:
            if not isinstance(e, (Preempted, Finished)):
                s.fail(e)
            raise
