"""Which node each rank of a round runs on: what the round's `start` event says (its `nodes` field).

Only rank 0 writes events (spotshield/library/session.py), so without this a run's events
name one host per round, and status could not say which VM holds which ranks, or which node a
notice came from (`noticed_by` is a rank). One all_gather of (host, boot) when a round starts
tells rank 0 the whole job; torchrun may place rank 0 on another node in the next round, so
every round's start carries its own map.
"""
from __future__ import annotations


def group_ranks(per_rank: list[tuple[str, str]]) -> list[dict]:
    """[(host, boot) of rank 0, of rank 1, ...] -> [{"host", "boot", "ranks"}], in order of each node's first rank."""
    nodes: dict[tuple[str, str], list[int]] = {}
    for rank, (host, boot) in enumerate(per_rank):
        nodes.setdefault((str(host), str(boot)), []).append(rank)
    return [{"host": h, "boot": b, "ranks": r} for (h, b), r in nodes.items()]


def gather_nodes(host: str, boot: str, group=None) -> list[dict]:
    """Collective (every rank, once per round): group_ranks() of the whole job.

    `group` should be a gloo group (the DistributedCheckpointer's): all_gather_object over NCCL
    would need each rank's CUDA device set first, which a user's script may not have done yet."""
    import torch.distributed as dist

    every: list = [None] * dist.get_world_size(group)
    dist.all_gather_object(every, (host, boot), group=group)
    return group_ranks(every)
