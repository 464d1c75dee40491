"""Runs started outside the UI (`warecast run`, `load`, `rollback`) that the UI lists as its own.

`make ui` serves the code location `dagster dev -m orchestration.definitions` loads. A job run
with `execute_in_process` carries no code-location origin, so Dagster's Overview timeline and the
job's page skip it (they match runs by origin and by the repository tag); only the Runs page
shows it. The CLI runs in its own process (its console and log file), so it keeps
`execute_in_process` and gives the run the origin `dagster dev` would have given it: the
repository tag when the run is created, the origin in the run's record once it has ended (the
run storage's own `replace_job_origin`).
"""

from __future__ import annotations

import dagster as dg

# The module `make ui` (dagster dev -m) loads: the code location is named after it.
DEFINITIONS_MODULE = "orchestration.definitions"


def job_origin(job_name: str):
    """The RemoteJobOrigin of `job_name` in the code location `make ui` serves."""
    from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
    from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
    from dagster._core.workspace.load_target import ModuleTarget

    [location] = ModuleTarget(DEFINITIONS_MODULE, None, None, None).create_origins()
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME), job_name)


def execute_in_code_location(
    job: dg.JobDefinition, instance: dg.DagsterInstance | None = None, **kwargs
) -> dg.ExecuteInProcessResult:
    """`job.execute_in_process(instance=instance, **kwargs)`, listed by the UI as a run of the
    code location's job (Overview, the job's page), like a run launched from the UI."""
    from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

    if instance is None:  # an ephemeral instance, which no UI reads
        return job.execute_in_process(**kwargs)
    origin = job_origin(job.name)
    tags = {**kwargs.pop("tags", {}), REPOSITORY_LABEL_TAG: origin.repository_origin.get_label()}
    result = job.execute_in_process(instance=instance, tags=tags, **kwargs)
    instance.run_storage.replace_job_origin(result.dagster_run, origin)
    return result
