"""Dagster resources: the billing database and the feed inbox."""

from resources.database import BillingDatabase
from resources.inbox import FeedInbox

__all__ = ["BillingDatabase", "FeedInbox"]
