"""Where a study's work runs: in this process one piece after another, or as tasks on a Ray cluster.

The runner hands an executor pieces of work (whole steps, or a step's units: :mod:`tokprobe.study.units`),
each a thunk that reads the models and the corpus and writes only its own directory.
:class:`LocalExecutor` runs each as it is submitted. :class:`RayExecutor` (the optional ``[ray]``
extra) submits each as a Ray task with the CPUs it uses and the memory the planner estimates
(``memory=``; Ray schedules it on a node with that much free) and collects them, saying as each one
finishes; a task whose worker dies is retried (``max_retries``), and a retried piece resumes from its
own state, as a re-run does. Workers must see the run directory and the model files at the same paths
(one machine, or shared storage) and must have tokprobe installed; a worker that cannot resolve a
model says so in the piece's error.
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Callable
from typing import Any

from ..errors import Error, InputError

StepThunk = Callable[[], Any]
MAX_RETRIES = 2


Done = Callable[[str, Any, int, int], None]  # (name, result, finished, submitted) as each piece finishes


class LocalExecutor:
    """Runs each piece when it is submitted (the default)."""

    name = "local"

    def __init__(self) -> None:
        self._done: list[Any] = []

    def parallelism(self, cpus: int = 1) -> int:
        """How many pieces of ``cpus`` CPUs run at once (the study splits its steps into units for more than one)."""
        return 1

    def submit(self, step: str, thunk: StepThunk, memory: int = 0, cpus: int = 1) -> None:
        self._done.append(thunk())

    def results(self, on_done: Done | None = None) -> list[Any]:
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        pass


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A ``host:port`` (or ``ray://host:port``) address must accept a TCP connection (``auto`` is Ray's)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"Ray address {address!r}: give host:port (e.g. 10.0.0.5:6379) or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise InputError(f"cannot start or reach Ray at {address}: {exc}") from exc


def _run_thunk(thunk: StepThunk) -> Any:
    try:
        return thunk()
    except Error as exc:  # e.g. a model this worker cannot resolve: one line that says which worker
        raise type(exc)(f"{exc} (on Ray worker {socket.gethostname()})") from None


class RayExecutor:
    """Submits each piece as a Ray task; :meth:`results` waits for all of them and returns them in submission order."""

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        try:
            self.ray: Any = importlib.import_module("ray")
        except ImportError as exc:
            raise InputError('--ray needs Ray: pip install "tokprobe[ray]"') from exc
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "ignore_reinit_error": True}
        if address:
            _check_reachable(address)  # ray.init waits minutes on an address where nothing listens
            kwargs["address"] = address
        elif num_cpus:
            kwargs["num_cpus"] = num_cpus
        # Workers start from the driver's environment: the same tokprobe (PYTHONPATH) and cache.
        env = {k: os.environ[k] for k in ("PYTHONPATH", "TOKPROBE_CACHE") if k in os.environ}
        if env:
            kwargs["runtime_env"] = {"env_vars": env}
        try:
            self.ray.init(**kwargs)
        except Exception as exc:  # a cluster that is not there: one line, not Ray's traceback
            raise InputError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}") from exc
        self._remote = self.ray.remote(max_retries=MAX_RETRIES)(_run_thunk)
        self._pending: list[tuple[str, Any]] = []

    def parallelism(self, cpus: int = 1) -> int:
        """Tasks of ``cpus`` CPUs that the cluster runs at once, at least 2 (a split pays off once a worker joins)."""
        try:
            total = int(self.ray.cluster_resources().get("CPU", 1))
        except Exception:  # a cluster that went away: the next submit says so
            total = 1
        return max(2, total // max(1, int(cpus)))

    def submit(self, step: str, thunk: StepThunk, memory: int = 0, cpus: int = 1) -> None:
        """Queue ``thunk`` as a task that asks for ``cpus`` CPUs (the step's threads) and ``memory`` bytes."""
        opts: dict[str, Any] = {"name": f"tokprobe-{step}", "num_cpus": max(1, int(cpus))}
        if memory > 0:
            opts["memory"] = int(memory)
        self._pending.append((step, self._remote.options(**opts).remote(thunk)))

    def results(self, on_done: Done | None = None) -> list[Any]:
        """Every submitted piece's result, in submission order; ``on_done`` hears of each as it finishes."""
        pending, self._pending = self._pending, []
        index = {ref: i for i, (_, ref) in enumerate(pending)}
        waiting = [ref for _, ref in pending]
        got: dict[int, Any] = {}
        try:
            while waiting:
                ready, waiting = self.ray.wait(waiting, num_returns=1)
                for ref in ready:
                    i = index[ref]
                    got[i] = self._get(pending[i][0], ref)
                    if on_done is not None:
                        on_done(pending[i][0], got[i], len(got), len(pending))
        except BaseException:
            for ref in waiting:  # one piece failed (or Ctrl-C): the others stop too, their state stays resumable
                self.ray.cancel(ref, force=True)
            raise
        return [got[i] for i in range(len(pending))]

    def _get(self, name: str, ref: Any) -> Any:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            if isinstance(cause, Error):
                raise cause from None
            raise InputError(f"study {name} failed on a Ray worker: {cause}") from None
        except self.ray.exceptions.RayError as exc:  # a worker lost after its retries, out of memory, ...
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"study {name} failed on a Ray worker ({type(exc).__name__}): {first}") from None

    def close(self) -> None:
        self.ray.shutdown()


def make_executor(ray_address: str | None, *, use_ray: bool, num_cpus: int | None = None) -> Any:
    """The executor of a run: Ray when asked (``ray_address`` None = a local Ray instance), else local."""
    return RayExecutor(ray_address, num_cpus=num_cpus) if use_ray else LocalExecutor()
