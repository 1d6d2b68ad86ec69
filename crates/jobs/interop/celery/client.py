"""The Celery producer of the jobs crate's interoperability tests.

    python3 client.py <queue> <task> <json args> [countdown seconds]

Sends one of the ``rust.*`` tasks of ``interop_tasks`` with ``apply_async`` to ``queue``, waits
for its result with ``AsyncResult(id).get()`` and prints one JSON line: the task id, its final
state and its result (or the exception Celery rebuilt from the stored failure).
"""

import json
import sys

from celery.result import AsyncResult

import interop_tasks

queue, task_name, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
countdown = float(sys.argv[4]) if len(sys.argv) > 4 else None

task = interop_tasks.app.tasks[task_name]
sent = task.apply_async(args=args, queue=queue, countdown=countdown)
print(json.dumps({"sent": sent.id}), flush=True)

result = AsyncResult(sent.id, app=interop_tasks.app)
try:
    value = result.get(timeout=20)
    print(json.dumps({"id": sent.id, "state": result.state, "result": value}), flush=True)
except Exception as exc:  # the stored failure, rebuilt as an exception by Celery
    print(
        json.dumps(
            {
                "id": sent.id,
                "state": result.state,
                "error": type(exc).__name__,
                "message": str(exc),
            }
        ),
        flush=True,
    )
