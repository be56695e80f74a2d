"""The API's background threads (model poller, prediction-log writer) share one lifecycle."""

from __future__ import annotations

import threading


class BackgroundThread:
    """A daemon thread running ``_run`` until :meth:`stop`; ``_run`` watches ``_stop``.

    Daemon, so a thread stuck on an unreachable database never blocks interpreter exit;
    :meth:`stop` still joins it (bounded) so a clean shutdown finishes its last iteration.
    """

    def __init__(self, name: str) -> None:
        self.thread_name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        self._stop.set()
        self._interrupt()
        if self._thread is not None:
            self._thread.join(timeout)

    def _interrupt(self) -> None:
        """Interrupt a wait of ``_run`` other than on ``_stop`` (none by default)."""

    def _run(self) -> None:
        raise NotImplementedError
