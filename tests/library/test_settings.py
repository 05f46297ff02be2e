"""Settings: an explicit argument wins, then the boot script's environment, then laptop defaults."""
import pytest

from spotshield.errors import SpotShieldError
from spotshield.library.settings import resolve, store_url


def test_laptop_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = resolve()
    assert s.store == f"file://{tmp_path}/spotshield-run" and s.run_id == "spotshield-run"
    assert s.health_port == 0 and s.strategy == "adaptive" and s.rank == 0 and s.world_size == 1
    assert s.checkpoint.keep == 3 and s.checkpoint.emergency_deadline_s == 25.0


def test_the_boot_scripts_environment(monkeypatch):
    monkeypatch.setenv("SPOTSHIELD_STORE", "gs://bucket/runs/r7")
    monkeypatch.setenv("SPOTSHIELD_RUN_ID", "r7")
    monkeypatch.setenv("SPOTSHIELD_HOST", "vm-3")
    monkeypatch.setenv("SPOTSHIELD_BOOT", "boot-9")
    monkeypatch.setenv("SPOTSHIELD_HEALTH_PORT", "8081")
    monkeypatch.setenv("RANK", "0")
    s = resolve()
    assert (s.store, s.run_id, s.host, s.boot, s.health_port) == ("gs://bucket/runs/r7", "r7", "vm-3", "boot-9", 8081)


def test_arguments_win_and_a_different_fleet_store_is_said_once(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SPOTSHIELD_STORE", "gs://bucket/runs/r7")
    monkeypatch.setenv("SPOTSHIELD_HEALTH_PORT", "8081")
    s = resolve(store=str(tmp_path / "mine"), run_id="mine-1", health_port=0, strategy="naive",
                strategy_params={"every_steps": 3}, checkpoint={"keep": 2})
    assert s.store == f"file://{tmp_path}/mine" and s.run_id == "mine-1" and s.health_port == 0
    assert s.strategy_params == {"every_steps": 3} and s.checkpoint.keep == 2
    assert capsys.readouterr().err.count("differs from SPOTSHIELD_STORE") == 1


def test_plain_paths_become_file_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert store_url("rel/store") == f"file://{tmp_path}/rel/store"
    assert store_url("gs://b/p") == "gs://b/p"


@pytest.mark.parametrize("env, message", [
    ({"SPOTSHIELD_HEALTH_PORT": "http"}, "SPOTSHIELD_HEALTH_PORT must be a port number"),
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be a whole number"),
])
def test_bad_environment_is_one_line(monkeypatch, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SpotShieldError, match=message):
        resolve()
