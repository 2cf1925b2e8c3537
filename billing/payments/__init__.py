"""Payments: payment files dropped in ``inbox/payments/``, loaded by a sensor-launched run."""
