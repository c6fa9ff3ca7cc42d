"""`fill --ray`: the distinct images of a site described by a pool of Ray actors (the `ray` extra).

fill hands its describer each batch's distinct, uncached images and writes the pages itself, on this
machine, as without Ray; RayDescriber is such a describer whose work runs on a Ray cluster: one
actor per GPU (or per CPU when the cluster has none), each with its own Describer, fed chunks of
--batch-size images in order. Describing has no side effects, so a chunk whose actor dies is run
again when Ray restarts the actor: nothing is lost and nothing is written twice.
"""

from __future__ import annotations

from alttext.describe import Description, make_describer


class DescribeWorker:
    """One actor: a Describer, loaded once."""

    def __init__(self, settings: dict):
        self.describer = make_describer(**settings)

    def facts(self) -> tuple[str, float]:
        return self.describer.model_id, self.describer.default_min_confidence

    def describe(self, items: list[tuple[str, bytes]]) -> list[Description]:
        return self.describer(items)


def start_ray(address: str) -> None:
    """"auto": Ray's own rule (RAY_ADDRESS, else a new instance on this machine); else the address."""
    import ray

    if not ray.is_initialized():
        ray.init(address=None if address == "auto" else address, log_to_driver=False)


class RayDescriber:
    """A fill describer (list of (source, bytes) -> Descriptions) backed by a pool of Ray actors."""

    def __init__(self, settings: dict, workers: int | None = None, worker=DescribeWorker):
        import ray
        from ray.util import ActorPool

        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = workers or gpus or max(1, int(resources.get("CPU", 1)))
        actor = ray.remote(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1, max_restarts=-1,
                           max_task_retries=-1)(worker)
        self.actors = [actor.remote(settings) for _ in range(count)]
        self.model_id, self.default_min_confidence = ray.get(self.actors[0].facts.remote())
        self.pool = ActorPool(self.actors)
        self.batch_size = settings.get("batch_size", 16)

    def close(self) -> None:
        """Give the actors' CPUs or GPUs back to the cluster."""
        import ray

        for actor in self.actors:
            ray.kill(actor)

    def __call__(self, items: list[tuple[str, bytes]]) -> list[Description]:
        chunks = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        done = self.pool.map(lambda actor, chunk: actor.describe.remote(chunk), chunks)
        return [description for chunk in done for description in chunk]
