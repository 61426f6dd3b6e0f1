"""What the worker's jobs last did: one row per job, written after every tick, read by
``/metrics`` (``relay_worker_job_last_success_timestamp_seconds``) so an alert can fire when a job
stops succeeding, whichever worker process ran it."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from api.models.base import timestamp_field


class WorkerJob(SQLModel, table=True):
    __tablename__ = "worker_job"

    name: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    last_success_at: datetime | None = timestamp_field()
    last_failure_at: datetime | None = timestamp_field()
