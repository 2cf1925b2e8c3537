"""Dagster resources: the billing database, the feed inbox, the document notifier and the
warehouse; their secrets arrive as EnvVars (resources/secrets.py)."""

from resources.database import BillingDatabase
from resources.inbox import FeedInbox
from resources.notifier import DocumentNotifier
from resources.secrets import secret_from_environment
from resources.warehouse import Warehouse

__all__ = ["BillingDatabase", "DocumentNotifier", "FeedInbox", "Warehouse", "secret_from_environment"]
