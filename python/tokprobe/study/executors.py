"""Where a study's steps run: in this process one after another, or as tasks on a Ray cluster.

After the models step (the ladder is quantized first: every other step reads its files) the steps
are independent: each reads the models and the corpus and writes only its own directory
``<run>/steps/<name>/``. :class:`LocalExecutor` runs each as it is submitted. :class:`RayExecutor`
(the optional ``[ray]`` extra) submits each as a Ray task with the memory the planner estimates
(``memory=``; Ray schedules it on a node with that much free) and collects them at the end; a task
whose worker dies is retried (``max_retries``), and a retried step resumes from its own state, as a
re-run does. Workers must see the run directory and the model files at the same paths (one machine,
or shared storage), and must have tokprobe installed; a worker that cannot resolve a model says so
in the step's error.
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Callable
from typing import Any

from ..errors import InputError

StepThunk = Callable[[], Any]
MAX_RETRIES = 2


class LocalExecutor:
    """Runs each step when it is submitted (the default)."""

    name = "local"

    def __init__(self) -> None:
        self._done: list[Any] = []

    def submit(self, step: str, thunk: StepThunk, memory: int = 0, cpus: int = 1) -> None:
        self._done.append(thunk())

    def results(self) -> list[Any]:
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
    return thunk()


class RayExecutor:
    """Submits each step as a Ray task; :meth:`results` waits for all of them, in submission order."""

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

    def submit(self, step: str, thunk: StepThunk, memory: int = 0, cpus: int = 1) -> None:
        """Queue ``thunk`` as a task that asks for ``cpus`` CPUs (the step's threads) and ``memory`` bytes."""
        opts: dict[str, Any] = {"name": f"tokprobe-{step}", "num_cpus": max(1, int(cpus))}
        if memory > 0:
            opts["memory"] = int(memory)
        self._pending.append((step, self._remote.options(**opts).remote(thunk)))

    def results(self) -> list[Any]:
        out = []
        for step, ref in self._pending:
            try:
                out.append(self.ray.get(ref))
            except self.ray.exceptions.RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                if isinstance(cause, InputError):
                    raise cause from None
                raise InputError(f"study step {step} failed on a Ray worker: {cause}") from None
        self._pending = []
        return out

    def close(self) -> None:
        self.ray.shutdown()


def make_executor(ray_address: str | None, *, use_ray: bool, num_cpus: int | None = None) -> Any:
    """The executor of a run: Ray when asked (``ray_address`` None = a local Ray instance), else local."""
    return RayExecutor(ray_address, num_cpus=num_cpus) if use_ray else LocalExecutor()
