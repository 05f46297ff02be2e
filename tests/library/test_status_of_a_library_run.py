"""`spotshield status` reads a run of the library unchanged: progress, preemptions, accuracy."""
import pytest

import spotshield
from spotshield.status.collect import collect
from spotshield.backends.record import StackRecord

from test_library_run import EPOCHS, STEPS, train


def test_status_shows_progress_preemptions_and_accuracy_of_a_library_run(tmp_path, isolated_root):
    url = f"file://{tmp_path}/lib-run"
    with pytest.raises(spotshield.Preempted):
        train(url, notice_at=("eval", 1))
    rec = StackRecord(backend="gcp", name="s", project="p", region="us-central1", zones=["us-central1-a"],
                      mig="m", bucket="b", run_id="lib-run", store=url, strategy="naive",
                      machine_type="g2-standard-4", endpoints={"compute": "http://127.0.0.1:9"})
    mid = collect(rec)
    assert mid["progress"]["state"] == "TRAINING" and mid["progress"]["total_steps"] == EPOCHS * STEPS
    assert mid["preemptions"]["count"] == 1 and mid["preemptions"]["emergency_ok"] == 1
    assert mid["checkpoint"]["step"] == 2 * STEPS and mid["checkpoint"]["reason"] == "emergency"
    train(url)
    done = collect(rec)
    assert done["progress"]["state"] == "DONE" and done["progress"]["step"] == EPOCHS * STEPS
    assert done["progress"]["final_accuracy"] == pytest.approx(0.7)
    assert [a["epoch"] for a in done["accuracy"]] == [1, 2, 3]
    assert done["preemptions"]["resumes"] == 1 and done["preemptions"]["steps_lost"] == 0
