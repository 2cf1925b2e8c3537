"""Which executor the jobs run their steps on. In-process by default: one machine, and a
step per process costs more than most steps take (DAGSTER_NOTES). With
``BILLING_EXECUTOR=celery`` every step goes to a ``dagster-celery`` worker through the broker,
so the production deployment spreads runs over more than one machine (README: Running on
more than one machine). The setting is read when the jobs are defined: give the code server,
the daemon and the webserver the same environment (the run worker loads the jobs again).

The broker, result backend and queue come from the environment, the same variables on the
side that submits steps (these jobs) and on the workers (``jobs.celery_worker``):
``BILLING_CELERY_BROKER`` (default ``pyamqp://guest@127.0.0.1:5672//``),
``BILLING_CELERY_BACKEND`` (default ``rpc://``) and ``BILLING_CELERY_QUEUE`` (default
``dagster``, the queue dagster-celery's own worker listens on). The broker and backend URLs may
hold a password: the executor's config names their variables (``{"env": …}``), which each run
resolves in its own process, rather than carrying their values."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dagster import ExecutorDefinition, in_process_executor

EXECUTOR_ENV = "BILLING_EXECUTOR"
BROKER_ENV = "BILLING_CELERY_BROKER"
BACKEND_ENV = "BILLING_CELERY_BACKEND"
DEFAULT_BROKER = "pyamqp://guest@127.0.0.1:5672//"
DEFAULT_BACKEND = "rpc://"
DEFAULT_QUEUE = "dagster"


@dataclass(frozen=True)
class CelerySettings:
    broker: str
    backend: str
    queue: str

    @classmethod
    def from_environment(cls) -> "CelerySettings":
        return cls(broker=os.environ.get(BROKER_ENV) or DEFAULT_BROKER,
                   backend=os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND,
                   queue=os.environ.get("BILLING_CELERY_QUEUE") or DEFAULT_QUEUE)

    def app_config(self) -> dict:
        """What the workers' Celery app is made of (``jobs.celery_worker``): the values themselves.
        The queue goes in as Celery's default queue, where dagster-celery sends every step that
        has no ``dagster-celery/queue`` tag."""
        return {"broker": self.broker, "backend": self.backend, "config_source": {"task_default_queue": self.queue}}

    def executor_config(self) -> dict:
        """The ``celery_executor`` config of the jobs: as ``app_config``, but a broker or backend
        taken from its variable is given as ``{"env": VARIABLE}`` (a password stays out of it)."""
        config = self.app_config()
        for key, variable in (("broker", BROKER_ENV), ("backend", BACKEND_ENV)):
            if os.environ.get(variable) == config[key]:
                config[key] = {"env": variable}
        return config


def celery_job_executor(settings: CelerySettings | None = None) -> ExecutorDefinition:
    from dagster_celery import celery_executor

    return celery_executor.configured((settings or CelerySettings.from_environment()).executor_config(),
                                      name="billing_celery")


def job_executor() -> ExecutorDefinition:
    """``in_process_executor``, or the Celery executor when ``BILLING_EXECUTOR=celery``."""
    choice = (os.environ.get(EXECUTOR_ENV) or "in_process").strip().lower()
    if choice == "in_process":
        return in_process_executor
    if choice == "celery":
        return celery_job_executor()
    raise ValueError(f"{EXECUTOR_ENV}={choice!r}: expected in_process or celery")
