"""The daily refresh."""

import os

import dagster as dg

from funnel.jobs import funnel_job

# Off until switched on in the UI (or FUNNEL_SCHEDULE_DEFAULT=on): the landing sensor already
# refreshes on new files; the schedule is a daily safety net for production.
daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=funnel_job,
    cron_schedule=os.environ.get("FUNNEL_SCHEDULE_CRON", "0 6 * * *"),
    execution_timezone=os.environ.get("FUNNEL_SCHEDULE_TIMEZONE", "UTC"),
    default_status=(
        dg.DefaultScheduleStatus.RUNNING
        if os.environ.get("FUNNEL_SCHEDULE_DEFAULT", "off") == "on"
        else dg.DefaultScheduleStatus.STOPPED
    ),
    description="Runs the whole graph once a day (cron and timezone from FUNNEL_SCHEDULE_CRON, "
    "FUNNEL_SCHEDULE_TIMEZONE; default 06:00 UTC).",
)
