"""DataLoader worker processes that outlive a preemption notice until the main process has saved.

On GCE the ACPI soft-off makes systemd send SIGTERM to every process of the unit at once: the
training process and its DataLoader workers. torch's workers die on a SIGTERM that does not come
from their parent, and the main process then fails ("DataLoader worker ... is killed by signal:
Terminated") before its emergency checkpoint. protect_workers(loader) changes that for one loader:

  1. its workers start with SIGTERM blocked: the main thread blocks it while it creates them, and
     a child inherits the signal mask (fork, spawn and forkserver alike), so no start-up window;
  2. each worker waits for SIGTERM in a thread (sigwaitinfo, which tells who sent it): one from
     the main process (torch's own shutdown of its workers) ends the worker as before; any other
     sender is ignored. Such a worker ends when the main process stops it or exits (torch's
     worker watchdog notices a dead parent, or its done event within 5 s).
With the forkserver start method (Python 3.14's default on Linux) the workers are children of
the fork server, which a group SIGTERM would end too: protect_workers starts the fork server
itself with SIGTERM ignored (an ignored disposition survives exec; a pending notice for the
main process stays blocked meanwhile and is delivered right after).
A spawned worker has threads from its interpreter start-up that do not block SIGTERM (spawn
does not pass the mask on); a SIGTERM that lands on one of them reaches a Python handler that
ignores it, since it cannot tell the sender. So the main process must not rely on SIGTERM to
stop its workers: at exit, before multiprocessing's own atexit hook terminates and joins every
child, the iterators of protected loaders are shut down the way torch does it (done event,
then a stop message to each worker), which ends the workers without any signal.
A SIGTERM that reaches the main thread while it is blocked there is delivered when the workers
exist (or at once to another thread): the notice is late by the workers' start-up, never lost.
"""
from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from contextlib import contextmanager

from spotshield.errors import SpotShieldError

_CAN_WAIT = hasattr(signal, "sigwaitinfo") and hasattr(signal, "pthread_sigmask")  # Linux
_ITERATORS: "weakref.WeakSet" = weakref.WeakSet()  # live iterators of protected loaders
_HOOKED = False


class WorkerGuard:
    """A worker_init_fn that protects the worker, then runs the loader's own (picklable for spawn)."""

    def __init__(self, inner=None):
        self.inner = inner
        self.main_pid = os.getpid()

    def __call__(self, worker_id: int) -> None:
        guard_worker(self.main_pid)
        if self.inner is not None:
            self.inner(worker_id)


def guard_worker(main_pid: int) -> None:
    """Called inside a worker: ignore SIGTERM from anyone but the main process."""
    if not _CAN_WAIT:
        return
    # Threads that already run (spawn) do not block it: there, a Python handler that does nothing
    # replaces torch's C handler, which would end the worker.
    signal.signal(signal.SIGTERM, _ignore)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # threads started below inherit it

    def wait() -> None:
        while True:
            info = signal.sigwaitinfo({signal.SIGTERM})
            if info.si_pid == main_pid:
                os._exit(0)  # what torch's own worker handler does for its parent's SIGTERM

    threading.Thread(target=wait, name="spotshield-worker-sigterm", daemon=True).start()


def _ignore(signum, frame) -> None:
    pass


@contextmanager
def sigterm_blocked():
    """Block SIGTERM in this thread (pending signals are delivered when the block ends)."""
    if not _CAN_WAIT:
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def protect_workers(loader):
    """Make `loader`'s worker processes survive a SIGTERM sent to the whole process group
    until the main process stops them. Returns the loader. Call it before iterating;
    spotshield.Run does it for the loader it is given."""
    if not hasattr(loader, "worker_init_fn") or not hasattr(loader, "_get_iterator"):
        raise SpotShieldError(f"protect_workers needs a torch DataLoader, not {type(loader).__name__}")
    if not isinstance(loader.worker_init_fn, WorkerGuard):
        loader.worker_init_fn = WorkerGuard(loader.worker_init_fn)
    if getattr(loader, "num_workers", 0) and _start_method(loader) == "forkserver":
        _start_fork_server()
    create = loader._get_iterator  # the one place a DataLoader starts its workers
    if not getattr(create, "_spotshield_guarded", False):
        def guarded_get_iterator():
            with sigterm_blocked():
                it = create()
            if hasattr(it, "_shutdown_workers"):
                _ITERATORS.add(it)
            return it

        guarded_get_iterator._spotshield_guarded = True
        loader._get_iterator = guarded_get_iterator
        _hook_exit()
    return loader


def _start_method(loader) -> str | None:
    import multiprocessing

    ctx = getattr(loader, "multiprocessing_context", None) or multiprocessing
    try:
        return ctx.get_start_method()
    except (AttributeError, ValueError):
        return None


def _start_fork_server() -> None:
    """Start multiprocessing's fork server with SIGTERM ignored, unless it already runs."""
    if not _CAN_WAIT or threading.current_thread() is not threading.main_thread():
        return
    from multiprocessing import forkserver

    with sigterm_blocked():
        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGTERM, previous)


def _hook_exit() -> None:
    """Register once, after multiprocessing has registered its own exit hook (atexit runs last
    registered first), so protected workers are stopped before multiprocessing joins them."""
    global _HOOKED
    if not _HOOKED:
        import multiprocessing.util  # noqa: F401  (its hook must be registered before ours)

        atexit.register(shutdown_workers)
        _HOOKED = True


def shutdown_workers() -> None:
    """Stop the workers of every live protected iterator (torch's own clean shutdown)."""
    for it in list(_ITERATORS):
        try:
            it._shutdown_workers()
        except Exception:  # a half-built or already closed iterator: nothing left to stop
            pass
