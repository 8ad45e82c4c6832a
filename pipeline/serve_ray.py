"""``duihua serve --engine ray --replicas N``: the same HTTP API, answered by N replicas on Ray Serve.

Each replica is the one-process server (``pipeline/http.py``: the app, its micro-batcher, its limits and error
codes), built inside a Ray Serve deployment from the same config, so paths, bodies and status codes are the
same; Ray Serve's proxy spreads requests over the replicas. Two things must span replicas, and a named Ray
actor, ``Peers``, coordinates them:

* **Lexicon reload.** ``POST /v1/lexicons/reload`` reaches one replica, which asks ``Peers`` to run two rounds
  over every live replica: *prepare* (each rebuilds its lexicons without swapping: ``Pipeline.prepare_reload``)
  and then, only when every replica prepared, *commit* (each swaps); when any fails, *abort*, and every replica
  keeps the old lexicons. The answer comes once every replica has swapped.
* **Metrics.** ``GET /metrics`` gathers every live replica's registry in one round and returns all samples,
  each labelled with its ``replica``: sum over that label for the server's totals.

Replicas wait on ``Peers`` with a long poll (a call that returns when a round starts, or after a second), so
the coordinator learns who is alive without any replica being addressable, and a replica Ray restarts joins
the next round under a new name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pipeline.errors import ConfigError, DuihuaError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from pipeline.http import Service

log = logging.getLogger("duihua.http")
PEERS, NAMESPACE = "duihua-peers", "duihua"  # the coordinator's actor name and Ray namespace
LIVE_S = 3.0                    # a replica that has not polled for this long is taken for dead
ROUND_TIMEOUT_S = 60.0          # a prepare (a lexicon rebuild) may take this long on every replica


class Peers:
    """The coordinator (an async Ray actor): rounds of one kind at a time, answered by every live replica."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.round, self.kind = 0, ""
        self.answers: dict[str, Any] = {}
        self.targets: set[str] = set()
        self.changed = asyncio.Condition()
        self.one_at_a_time = asyncio.Lock()

    async def wait(self, replica: str, last: int) -> tuple[int, str] | None:
        """A replica's long poll: the round it has not seen yet, or None after a second without one."""
        self.seen[replica] = time.monotonic()
        async with self.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait_for(lambda: self.round > last), 1.0)
        self.seen[replica] = time.monotonic()
        return (self.round, self.kind) if self.round > last else None

    async def answer(self, replica: str, round_: int, value: Any) -> None:  # noqa: ANN401 - a round's answer
        if round_ == self.round:
            self.answers[replica] = value
            async with self.changed:
                self.changed.notify_all()

    async def run(self, kind: str) -> dict[str, Any]:
        """Start a round; every replica alive at its start answers, or it fails after ``ROUND_TIMEOUT_S``."""
        async with self.one_at_a_time:
            return await self._round(kind)

    async def reload(self) -> dict[str, Any]:
        """Prepare everywhere, then commit everywhere, or abort everywhere: ``{"changed"}`` or ``{"error"}``."""
        async with self.one_at_a_time:
            prepared = await self._round("prepare")
            failed = [a for a in prepared.values() if not a["ok"]]
            if failed or not prepared:
                await self._round("abort")
                return {"error": failed[0] if failed else {"status": 503, "message": "no replica is serving"}}
            committed = await self._round("commit")
            if not all(a["ok"] for a in committed.values()):  # a swap is one attribute store: cannot fail
                return {"error": next(a for a in committed.values() if not a["ok"])}
            return {"changed": any(a["changed"] for a in prepared.values()), "replicas": len(prepared)}

    async def _round(self, kind: str) -> dict[str, Any]:
        now = time.monotonic()
        async with self.changed:
            self.round, self.kind, self.answers = self.round + 1, kind, {}
            self.targets = {r for r, t in self.seen.items() if now - t < LIVE_S}
            self.changed.notify_all()
            try:
                await asyncio.wait_for(self.changed.wait_for(lambda: self.targets <= self.answers.keys()),
                                       ROUND_TIMEOUT_S)
            except TimeoutError:
                missing = sorted(self.targets - self.answers.keys())
                return {**self.answers, **{r: {"ok": False, "status": 503, "message": f"replica {r} did not "
                                               f"answer the {kind} round within {ROUND_TIMEOUT_S:g} s"}
                                           for r in missing}}
            return dict(self.answers)


class RayCluster:
    """A replica's side of ``Peers`` (``pipeline.http.Cluster``): it polls for rounds and answers them."""

    def __init__(self, peers: Any) -> None:  # noqa: ANN401 - a Ray actor handle
        self.peers, self.name = peers, uuid.uuid4().hex[:8]
        self.service: Service | None = None
        self._pending: Callable[[], None] | None = None
        self._task: asyncio.Task | None = None

    async def start(self, service: Service) -> None:
        self.service = service
        await self.peers.wait.remote(self.name, 10**9)  # joins now: a reload right after start-up includes it
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def reload(self) -> bool:
        from pipeline.http_errors import ApiError

        outcome = await self.peers.reload.remote()
        if "error" in outcome:
            raise ApiError(outcome["error"]["status"], outcome["error"]["message"])
        return outcome["changed"]

    async def metrics(self) -> bytes:
        from pipeline.metrics_merge import merge_labelled

        pages = await self.peers.run.remote("metrics")
        return merge_labelled({r: page for r, page in pages.items() if isinstance(page, str)}, "replica")

    async def _follow(self) -> None:
        last = 0
        while True:
            try:
                news = await self.peers.wait.remote(self.name, last)
                if news is None:
                    continue
                last, kind = news
                await self.peers.answer.remote(self.name, last, await self._answer(kind))
            except asyncio.CancelledError:
                raise
            except Exception:  # the coordinator restarting: try again, the next round will include us
                log.exception("replica %s: lost the coordinator, retrying", self.name)
                await asyncio.sleep(0.5)

    async def _answer(self, kind: str) -> Any:  # noqa: ANN401
        service = self.service
        assert service is not None
        if kind == "metrics":
            return service.metrics.response().body.decode()
        if kind == "abort":
            self._pending = None
            return {"ok": True}
        if kind == "commit":
            commit, self._pending = self._pending, None
            if commit is not None:
                commit()
            return {"ok": True}
        try:  # prepare
            self._pending = await asyncio.to_thread(service.pipe.prepare_reload)
            return {"ok": True, "changed": self._pending is not None}
        except Exception as exc:
            from pipeline.http_errors import status_of

            status = status_of(exc) if isinstance(exc, DuihuaError) else 500
            return {"ok": False, "status": status, "message": f"replica {self.name}: {exc}"}


def build_replica_app(overrides: Sequence[str]) -> Callable[[], FastAPI]:
    """What each replica runs to make its app: the one-process server's, on a pipeline of its own."""

    def build() -> FastAPI:
        import ray
        from omegaconf import OmegaConf

        from models.common.onnx import set_intra_op_threads
        from pipeline.config import load_config
        from pipeline.http import ServerConfig, create_app
        from pipeline.pipeline import Pipeline

        cfg = load_config("pipeline", list(overrides))
        server = ServerConfig.model_validate(OmegaConf.to_container(cfg.server, resolve=True))
        set_intra_op_threads(server.threads or 1)
        logging.getLogger("duihua.http").setLevel(logging.INFO if server.log_requests else logging.WARNING)
        return create_app(Pipeline.from_cfg(cfg), server, RayCluster(ray.get_actor(PEERS, namespace=NAMESPACE)))

    return build


def serve_on_ray(overrides: Sequence[str], host: str, port: int, replicas: int, queue_size: int,
                 address: str | None = None, ready: threading.Event | None = None,
                 stop: threading.Event | None = None) -> None:
    """Start (or join) Ray, deploy ``replicas`` replicas behind Ray Serve's proxy on ``host:port``, and serve
    until SIGINT/SIGTERM (or ``stop``). ``queue_size``: requests a replica takes at once, so that its own
    micro-batcher, not Ray's, decides the batches."""
    import ray
    from ray import serve

    from pipeline.batch_ray import import_ray

    import_ray()
    started_here = not ray.is_initialized()
    if started_here:  # a local cluster gets a slot per replica even on a smaller machine: they then share cores
        cpus = {} if address else {"num_cpus": max(replicas, os.cpu_count() or 1)}
        ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                 configure_logging=False, **cpus)
    try:
        peers = ray.remote(num_cpus=0)(Peers).options(name=PEERS, namespace=NAMESPACE, get_if_exists=True,
                                                      max_concurrency=1000).remote()
        serve.start(http_options={"host": host, "port": port}, logging_config={"log_level": "WARNING"})
        deployment = serve.deployment(name="duihua", num_replicas=replicas, max_ongoing_requests=queue_size,
                                      ray_actor_options={"num_cpus": 1})(
            serve.ingress(build_replica_app(overrides))())
        try:
            serve.run(deployment.bind(), name="duihua", route_prefix="/")
        except RuntimeError as exc:  # a replica could not build what this machine could: files differ on a node
            raise ConfigError(f"Ray Serve could not start the replicas ({exc}); the replica logs under "
                              "/tmp/ray/session_latest/logs/serve say why") from exc
        print(f"duihua: serving on http://{host}:{port}/ with {replicas} Ray Serve replicas, API docs at /docs",
              file=sys.stderr)
        if ready is not None:
            ready.set()
        _block_until(stop)
        del peers  # held until here: the coordinator lives as long as this handle
    finally:
        with contextlib.suppress(Exception):
            serve.shutdown()
        if started_here:
            ray.shutdown()


def _block_until(stop: threading.Event | None) -> None:
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    stop.wait()
