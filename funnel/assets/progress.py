"""Progress lines from assets, for both audiences: the run's event log in the UI, and the CLI's terminal."""

import logging

import dagster as dg

log = logging.getLogger("funnel")


def say(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext, message: str) -> None:
    context.log.info(message)
    log.info(message)
