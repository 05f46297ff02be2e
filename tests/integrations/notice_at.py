"""Run a Lightning script with a SIGTERM sent to itself right after the training step that brings
trainer.global_step to a chosen value (`python notice_at.py STEP script.py args...`): a notice at
a known place, so a test of exact resume does not depend on how fast the machine runs."""
import os
import runpy
import signal
import sys

import pytorch_lightning as pl

step, script = int(sys.argv[1]), sys.argv[2]
sys.argv = sys.argv[2:]


class _NoticeAt(pl.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == step:
            os.kill(os.getpid(), signal.SIGTERM)


_init = pl.Trainer.__init__


def _with_notice(self, *args, callbacks=None, **kwargs):
    _init(self, *args, callbacks=[*(callbacks or []), _NoticeAt()], **kwargs)


pl.Trainer.__init__ = _with_notice
runpy.run_path(script, run_name="__main__")
