"""Dagster resources: the billing database, the feed inbox and the document notifier."""

from resources.database import BillingDatabase
from resources.inbox import FeedInbox
from resources.notifier import DocumentNotifier

__all__ = ["BillingDatabase", "DocumentNotifier", "FeedInbox"]
