"""The Celery app of the billing workers: ``celery -A jobs.celery_worker worker -Q "$BILLING_CELERY_QUEUE"``.

dagster-celery's own ``dagster_celery.app`` takes its broker from a YAML file that its
``dagster-celery worker start`` turns into a module under ``$DAGSTER_HOME``; this one reads the
same environment as the jobs that send the steps (``jobs.executors``). A step arrives with the
run's instance reference and its code location's pointer: the worker opens the run's instance
(in production the shared PostgreSQL one, so it needs ``DAGSTER_PG_URL``), loads the job from
the installed project and runs the step with its resources' environment
(``BILLING_DATABASE_URL``, ``BILLING_HOME``, ``BILLING_CONFIG``) — set them as on the host of
the run launcher."""

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task
from kombu import Queue

import definitions  # noqa: F401  the code location, loaded once before the pool forks: not again per step
from jobs.executors import CelerySettings

settings = CelerySettings.from_environment()
app = make_app(CeleryExecutor.for_cli(**settings.app_config()).app_args())
# make_app declares dagster-celery's "dagster" queue only; the steps come on ours.
app.conf.task_queues = [Queue(settings.queue, routing_key=f"{settings.queue}.#",
                              queue_arguments={"x-max-priority": 10})]

execute_plan = create_task(app)
