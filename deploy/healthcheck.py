"""Container health checks: `worker` (this container's worker polls its task queue) and `api` (GET /health is 200).

Exit 0 when healthy, 1 otherwise, as Docker's HEALTHCHECK expects. Configuration comes from the one Settings object.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import urllib.request

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from botarmy.settings import Settings, get_settings
from botarmy.temporal import connect

# An idle worker long-polls for up to ~70 s, so a poller seen within this window is alive.
POLLER_FRESH_S = 180
API_HEALTH_URL = "http://127.0.0.1:8000/health"


async def worker_is_polling(settings: Settings) -> bool:
    """True when a poller of this container (identity `<pid>@<hostname>`, the SDK default) polled recently."""
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    suffix = f"@{socket.gethostname()}"
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=settings.task_queue), task_queue_type=kind
            )
        )
        fresh = [
            p for p in resp.pollers
            if p.identity.endswith(suffix) and time.time() - p.last_access_time.seconds < POLLER_FRESH_S
        ]
        if not fresh:
            return False
    return True


def api_is_up(url: str = API_HEALTH_URL) -> bool:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return bool(resp.status == 200)


def main(argv: list[str]) -> int:
    what = argv[1] if len(argv) > 1 else "worker"
    try:
        if what == "worker":
            healthy = asyncio.run(asyncio.wait_for(worker_is_polling(get_settings()), timeout=10))
        elif what == "api":
            healthy = api_is_up(argv[2] if len(argv) > 2 else API_HEALTH_URL)
        else:
            sys.stderr.write(f"usage: healthcheck.py worker|api [url], not {what!r}\n")
            return 2
    except Exception as exc:  # noqa: BLE001 - any failure to check means unhealthy; say why in `docker inspect`
        sys.stderr.write(f"unhealthy: {type(exc).__name__}: {exc}\n")
        return 1
    if not healthy:
        sys.stderr.write(f"unhealthy: {what}\n")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
