"""Two `auforget tune` workers, separate processes as on two machines, share one Optuna study in
PostgreSQL and log to one MLflow server."""

from __future__ import annotations

import optuna

from tests.project import copy_project
from tests.team.test_study_on_server import check, client_env, point_at, started

TRIALS_EACH = 2


def test_two_tune_workers_share_one_study_in_postgres(tmp_path, postgres, proxied_server):
    project = copy_project(tmp_path / "lab")
    env = client_env(project, proxied_server)
    check(["auforget", "--quiet", "synth"], project, env)
    check(["auforget", "--quiet", "prepare"], project, env)
    storage = postgres.create_database("optuna")
    tune = [
        "auforget",
        "--quiet",
        "tune",
        "--stage",
        "emotion",
        "--epochs",
        "1",
        "--n-trials",
        str(TRIALS_EACH),
        "--storage",
        storage,
    ]
    with started(
        [[*tune, "--seed", "1"], [*tune, "--seed", "2"]], [project] * 2, [env] * 2
    ) as workers:
        for worker in workers:
            _, err = worker.communicate(timeout=900)
            assert worker.returncode == 0, err[-6000:]

    study = optuna.load_study(study_name="auforget-gamma", storage=storage)
    assert sorted(t.number for t in study.trials) == list(range(2 * TRIALS_EACH)), (
        "a trial was lost or duplicated"
    )
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)

    client = point_at(proxied_server)
    experiment = client.get_experiment_by_name("auforget")
    runs = client.search_runs(
        [experiment.experiment_id], "tags.`optuna.study_name` = 'auforget-gamma'"
    )
    tune_runs = {r.info.run_id: r for r in runs if r.data.tags.get("auforget.stage") == "tune"}
    trials = [r for r in runs if r.data.tags.get("auforget.stage") == "tune-trial"]
    assert len(tune_runs) == 2
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in trials) == list(
        range(2 * TRIALS_EACH)
    )
    for run_id in tune_runs:  # each worker's trials nest under its own tune run
        assert sum(r.data.tags.get("mlflow.parentRunId") == run_id for r in trials) == TRIALS_EACH
    assert {t.user_attrs["mlflow_run_id"] for t in study.trials} == {r.info.run_id for r in trials}
    # Each worker reports the shared study's best as it stood when it finished; the one that
    # finished last saw every trial.
    best = [r.data.metrics["best_value"] for r in tune_runs.values()]
    assert max(best) == study.best_value
