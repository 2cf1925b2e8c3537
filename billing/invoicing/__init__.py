"""Invoicing, the close-of-day steps that turn billable charges into invoices (DESIGN §7):
``bill_run`` (DoInvoicing), ``finalize`` (finalize_billing)."""
