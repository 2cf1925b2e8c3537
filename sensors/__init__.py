"""Sensors: the feed inbox."""
