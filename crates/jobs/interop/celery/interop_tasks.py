"""The Celery application of the jobs crate's interoperability tests.

Both directions use it:

- Celery to Rust: ``client.py`` calls ``apply_async`` on the ``rust.*`` tasks below. They are
  stubs: the Rust worker (``src/interop/celery.rs``) consumes their messages from the same
  RabbitMQ queue, runs its own implementation, and stores the result in the Redis result
  backend, where ``AsyncResult(id).get()`` finds it.
- Rust to Celery: the Rust producer publishes ``py.*`` tasks, and a real Celery worker started
  with ``celery -A interop_tasks worker -Q <queue>`` runs them.

Broker and result backend come from the environment (``AMQP_URL``, ``REDIS_URL``), with the
project's defaults; ``CELERY_KEY_PREFIX`` puts every result key under one prefix, so a test can
find and delete exactly the keys it caused.
"""

import os
import time

from celery import Celery

app = Celery(
    "interop_tasks",
    broker=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
    backend=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    enable_utc=True,
    # Results expire after an hour instead of a day; the tests delete theirs anyway.
    result_expires=3600,
    result_backend_transport_options={
        "global_keyprefix": os.environ.get("CELERY_KEY_PREFIX", "")
    },
    # One message at a time, acknowledged after the task ran: the same at-least-once contract
    # as the Rust worker, and no prefetched ETA messages hoarded by an idle test worker.
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
)


# --- run by the Rust worker (the stubs only name them and carry their signature) ---


@app.task(name="rust.add")
def rust_add(x, y):
    raise NotImplementedError("rust.add runs in the Rust worker")


@app.task(name="rust.flaky")
def rust_flaky(fail_times):
    raise NotImplementedError("rust.flaky runs in the Rust worker")


@app.task(name="rust.when")
def rust_when():
    raise NotImplementedError("rust.when runs in the Rust worker")


@app.task(name="rust.fail")
def rust_fail(message):
    raise NotImplementedError("rust.fail runs in the Rust worker")


# --- run by a real Celery worker, enqueued by the Rust producer ---


@app.task(name="py.add")
def py_add(x, y):
    return {"sum": x + y, "processed_by": "celery"}


@app.task(name="py.flaky", bind=True, max_retries=5)
def py_flaky(self, fail_times):
    # self.request.retries is the `retries` header of the message being run.
    if self.request.retries < fail_times:
        raise self.retry(countdown=0.1, exc=RuntimeError("failing on purpose"))
    return {"retries": self.request.retries}


@app.task(name="py.when", bind=True)
def py_when(self):
    # The eta header as Celery parsed it, and when the task actually started.
    return {"ran_at": time.time(), "eta": self.request.eta}
