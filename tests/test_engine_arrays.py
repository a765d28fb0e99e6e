"""Arrays on a backend without them: the real shellcmd resource submits one job each through
``LRMS.submit_jobs`` and the engine, exactly as before (``max_in_flight`` holds jobs back)."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

import lrms


def shellcmd(tmp_path: Path) -> str:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"resources": {"local": {
        "backend": "shellcmd", "max_cores": 4, "max_cores_per_job": 2,
        "max_memory_per_core": "1GiB", "max_walltime": "1h", "architecture": ["x86_64"],
        "spool": str(tmp_path / "spool")}}}))
    return str(path)


def apps(count: int) -> list[lrms.Application]:
    return [lrms.Application(["sh", "-c", 'echo "${LRMS_TASK_INDEX-none} $1"; exit "$1"', "sh",
                              str(i)], outputs=["stdout"]) for i in range(count)]


def test_submit_jobs_on_shellcmd_submits_each_job(tmp_path: Path) -> None:
    res = lrms.load_config(shellcmd(tmp_path)).resource("local")
    assert not res.can("submit_jobs")
    sweep = apps(3)
    jobs = res.submit_jobs(sweep, [lrms.Job(app) for app in sweep], throttle=1)
    for job in jobs:
        job.state = lrms.State.SUBMITTED
    while any(state != lrms.State.TERMINATED for state in res.update_job_states(jobs)):
        time.sleep(0.1)
    assert [job.exitcode for job in jobs] == [0, 1, 2]
    assert len({job.native_id for job in jobs}) == 3
    assert all("array" not in job.backend_data for job in jobs)
    for i, job in enumerate(jobs):
        assert Path(job.sandbox or "", "stdout").read_text() == f"none {i}\n"
    res.close()


def test_the_engine_keeps_max_in_flight_on_shellcmd(tmp_path: Path) -> None:
    with lrms.Engine(shellcmd(tmp_path), tmp_path / "jobs.db", max_in_flight=2,
                     output_root=tmp_path / "out") as engine:
        jobs = engine.add(apps(3))
        assert len(engine.progress().submitted) == 2
        finished = engine.wait(jobs, timeout=60)
        assert sorted(job.exitcode or 0 for job in finished) == [0, 1, 2]
        assert all(job.backend_data.get("array") is None for job in finished)
