"""`BmadScheduledLaunch`: what a Temporal Schedule starts. It launches one run through the launcher activity (which
calls `botarmy.launch.launch`, the one way runs start) and returns its run id; it does not wait for the run."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import ACTIVITY_LAUNCH_SCHEDULED, WORKFLOW_SCHEDULED_LAUNCH, ScheduledLaunchInput


@workflow.defn(name=WORKFLOW_SCHEDULED_LAUNCH)
class BmadScheduledLaunchWorkflow:
    @workflow.run
    async def run(self, inp: ScheduledLaunchInput) -> str:
        run_id: str = await workflow.execute_activity(
            ACTIVITY_LAUNCH_SCHEDULED, inp, result_type=str, start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
            summary=f"launch a run for schedule {inp.schedule_id}",
        )
        return run_id
