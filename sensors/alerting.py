"""Raising an alert from a sensor: the configuration in force, the notifier (outbox/alerts
or SMTP), and a mail server that is down logged as a warning instead of stopping the sensor —
the alert stays recorded unsent and goes out on a later tick."""

from dagster import SensorEvaluationContext

from billing.errors import BillingError
from billing.operations.alerts import Alert, raise_alert, send_alerts
from billing.operations.config import BatchProcessingConfig
from resources import BillingDatabase, DocumentNotifier, FeedInbox


def alert(context: SensorEvaluationContext, database: BillingDatabase, notifier: DocumentNotifier, inbox: FeedInbox,
          config: BatchProcessingConfig, raised: Alert) -> None:
    """Send ``raised`` once."""
    _warn_on_failure(context, lambda: raise_alert(database.engine(), config, _alerts(notifier, inbox), raised))


def resend_unsent(context: SensorEvaluationContext, database: BillingDatabase, notifier: DocumentNotifier,
                  inbox: FeedInbox, config: BatchProcessingConfig) -> None:
    """Send the alerts recorded while the mail server was down."""
    _warn_on_failure(context, lambda: send_alerts(database.engine(), config, _alerts(notifier, inbox)))


def _alerts(notifier: DocumentNotifier, inbox: FeedInbox):
    return notifier.notifier(inbox.paths().outbox / "alerts")


def _warn_on_failure(context: SensorEvaluationContext, send) -> None:
    try:
        send()
    except BillingError as failed:
        context.log.warning(str(failed))
