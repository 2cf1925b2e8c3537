"""Close of day (DESIGN §7): the daily steps and the log of the days closed."""
