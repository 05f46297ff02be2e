"""spotshield/distributed/nodes.py: which node holds which ranks, for the round's start event."""
from __future__ import annotations

from spotshield.distributed.nodes import gather_nodes, group_ranks


def test_ranks_are_grouped_per_node_in_order_of_their_first_rank():
    per_rank = [("vm-b", "b1"), ("vm-b", "b1"), ("vm-a", "a2"), ("vm-a", "a2")]
    assert group_ranks(per_rank) == [{"host": "vm-b", "boot": "b1", "ranks": [0, 1]},
                                     {"host": "vm-a", "boot": "a2", "ranks": [2, 3]}]
    # one host, two boots (a test's standalone launches): two nodes
    assert [n["ranks"] for n in group_ranks([("h", "x"), ("h", "y")])] == [[0], [1]]
    assert group_ranks([]) == []


def test_gather_over_a_gloo_group(world1):
    import torch.distributed as dist

    group = dist.new_group(backend="gloo")  # as the DistributedCheckpointer's
    assert gather_nodes("vm-a", "a1", group) == [{"host": "vm-a", "boot": "a1", "ranks": [0]}]
    assert gather_nodes("vm-a", "a1") == [{"host": "vm-a", "boot": "a1", "ranks": [0]}]  # the default group
