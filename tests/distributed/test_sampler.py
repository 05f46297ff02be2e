"""ElasticSampler: exactly-once coverage of each epoch, whatever the world size does."""
from __future__ import annotations

import pytest

from spotshield.distributed.sampler import ElasticSampler, split
from spotshield.errors import SpotShieldError


def _run(sampler, world, steps, seen):
    """`steps` steps of a world of `world` ranks; records (epoch, index) per rank."""
    for _ in range(steps):
        if sampler.done:
            return
        epoch = sampler.epoch
        counts = []
        for rank in range(world):
            b = sampler.next_batch(rank, world)
            assert b.world == world
            counts.append(len(b.indices))
            seen.setdefault(epoch, []).extend(b.indices.tolist())
        assert sum(counts) == b.global_count and max(counts) - min(counts) <= 1
        sampler.advance()


def _resume(sampler):
    fresh = ElasticSampler(sampler.n, sampler.global_batch, sampler.seed, sampler.epochs)
    fresh.load_state_dict(sampler.state_dict())
    return fresh


@pytest.mark.parametrize("worlds", [(2, 1), (3, 2, 3), (1, 4), (4, 3, 1)])
def test_every_sample_of_each_epoch_once_across_world_size_changes(worlds):
    n, batch, epochs = 103, 8, 3  # a ragged tail batch (103 = 12*8 + 7)
    sampler = ElasticSampler(n, batch, seed=5, epochs=epochs)
    seen: dict[int, list[int]] = {}
    for i, world in enumerate(worlds):
        steps = 7 if i < len(worlds) - 1 else 10 ** 6  # change world mid-epoch, then run to the end
        _run(sampler, world, steps, seen)
        sampler = _resume(sampler)  # what a checkpoint + restart does
    assert sampler.done and sampler.step == sampler.total_steps == 13 * epochs
    assert sorted(seen) == list(range(epochs))
    for epoch, idx in seen.items():
        assert sorted(idx) == list(range(n)), f"epoch {epoch} skipped or repeated samples"


def test_the_same_world_resumes_the_same_batches():
    a = ElasticSampler(50, 6, seed=1, epochs=2)
    for _ in range(5):
        a.advance()
    b = _resume(a)
    for _ in range(12):
        assert all(a.next_batch(r, 2).indices.tolist() == b.next_batch(r, 2).indices.tolist() for r in range(2))
        assert a.advance() == b.advance()


def test_epochs_have_different_orders_and_scale_averages_over_the_global_batch():
    s = ElasticSampler(16, 16, seed=0, epochs=2)
    first = s.next_batch(0, 1).indices.tolist()
    s.advance()
    assert s.next_batch(0, 1).indices.tolist() != first
    tail = ElasticSampler(10, 4, seed=0, epochs=1)
    tail.advance(), tail.advance()
    b = tail.next_batch(2, 3)  # 2 samples left for 3 ranks: rank 2 gets none
    assert len(b.indices) == 0 and b.global_count == 2 and b.scale == 1.5


def test_split_covers_the_range_contiguously():
    for count in range(0, 12):
        for world in range(1, 5):
            parts = [split(count, world, r) for r in range(world)]
            assert parts[0][0] == 0 and parts[-1][1] == count
            assert all(parts[i][1] == parts[i + 1][0] for i in range(world - 1))


def test_a_checkpoint_of_another_run_is_refused():
    s = ElasticSampler(10, 2, seed=0, epochs=1)
    other = ElasticSampler(10, 4, seed=0, epochs=1)
    with pytest.raises(SpotShieldError, match="global_batch=4"):
        s.load_state_dict(other.state_dict())
    with pytest.raises(ValueError):
        ElasticSampler(0, 2, seed=0, epochs=1)


def test_drop_last_gives_the_single_process_trainers_global_batches_at_any_world_size():
    """The built-in trainer's epoch (spotshield.trainer.run): n // B whole batches, batch k being
    epoch_order[k*B:(k+1)*B]; the ranks' parts of each step are exactly that batch, and a world
    change mid-epoch still trains each of those samples once."""
    from spotshield.trainer.data import epoch_order

    n, batch, epochs = 103, 8, 2  # a 7-sample tail, left out
    for worlds in [(1,), (2,), (3,), (2, 1, 3)]:
        s = ElasticSampler(n, batch, seed=4, epochs=epochs, drop_last=True)
        assert s.steps_per_epoch == n // batch and s.total_steps == 2 * (n // batch)
        for i, world in enumerate(worlds):
            stop = s.step + 5 if i < len(worlds) - 1 else s.total_steps
            while s.step < stop:
                k = s.step % s.steps_per_epoch
                want = epoch_order(n, 4, s.epoch)[k * batch:(k + 1) * batch].tolist()
                parts = [s.next_batch(r, world) for r in range(world)]
                assert [i for b in parts for i in b.indices.tolist()] == want
                assert all(b.global_count == batch for b in parts)
                s.advance()
            fresh = ElasticSampler(n, batch, seed=4, epochs=epochs, drop_last=True)
            fresh.load_state_dict(s.state_dict())
            s = fresh
        assert s.done
    with pytest.raises(SpotShieldError, match="drop_last"):
        ElasticSampler(n, batch, seed=4, epochs=1).load_state_dict(
            ElasticSampler(n, batch, seed=4, epochs=1, drop_last=True).state_dict())
