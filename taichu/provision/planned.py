"""The steps a create task or an expansion runs, in order, as the detail endpoints show
them (`planned_steps`): a console can say "step 3 of 13" before a step has started."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from taichu.config import Settings
from taichu.jobs.errors import PermanentJobError
from taichu.provision.plan import Pipeline, Step


class PlannedStep(BaseModel):
    step: str  # the journal key (`steps[].step`)
    title: str  # what `current_step` says while it runs
    per_machine: bool  # run on each machine (else once for the cluster)


def _of(steps: Sequence[Step]) -> list[PlannedStep]:
    return [PlannedStep(step=s.name, title=s.title, per_machine=s.each is not None) for s in steps]


def _pipeline(settings: Settings) -> Pipeline | None:
    # Imported here: the job modules import the services these routes use.
    from taichu.provision import engine

    try:
        return engine.load_pipeline(settings.provision.pipeline)
    except PermanentJobError:
        return None  # the job says why when it runs; the detail still answers


def create_steps(settings: Settings) -> list[PlannedStep]:
    """The pipeline's steps and the engine's own last one (register)."""
    from taichu.provision.jobs import REGISTER

    pipeline = _pipeline(settings)
    return _of([*pipeline.steps, REGISTER]) if pipeline is not None else []


def expansion_steps(settings: Settings) -> list[PlannedStep]:
    from taichu.provision.expansion_jobs import FINISH

    pipeline = _pipeline(settings)
    return _of([*pipeline.join_steps, FINISH]) if pipeline and pipeline.join_steps else []
