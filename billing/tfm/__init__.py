"""The transaction feed management (TFM) steps of DESIGN §5, one module per seed batch.

Each step takes a connection inside the caller's transaction and the feed's ``header_id``,
works on what is still pending for that feed in a few set-based statements, and returns
counts for the step's metadata. Re-running a step finds nothing pending and changes nothing.
"""
