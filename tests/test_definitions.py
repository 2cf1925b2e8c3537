"""The whole Definitions object loads, with the graph operators rely on."""

from dagster import AssetKey

from definitions import defs

SEED_BATCHES = {
    "staged_feed": "upload",
    "validated_header": "C1-TXNHV",
    "validated_transactions": "C1-TXNIP",
    "transaction_legs": "C1-TXNIP",
    "transaction_summaries": "C1-TXNPS",
    "effective_pricing": "C1-TXNRP",
    "priced_summaries": "C1-TXNVP",
    "leg_statuses": "C1-TXNEX",
    "billable_charges": "C1-TXNSQ",
    "completed_transactions": "C1-TXNCM",
    "aggregation_cleanup": "C1-TXNCU",
    "checked_database": "dbck",
    "managed_files": "managefiles",
    "tax_rates_in_effect": "UpdateTaxRates",
    "entity_statuses": "OpenFutureStartdateServices-ClearDiscounts",
    "recurring_charges": "BillServices",
    "account_balances": "UpdateStaticBalances",
    "late_fees": "AssessLateFeesByInvoice",
    "overdue_accounts": "SuspendOverDueAccounts",
    "financial_activity": "SetFinactivity",
    "pending_bills": "DoInvoicing",
    "paid_services": "OpenWaitForPaymentServices",
    "customer_notices": "WarnServiceExpiration-NoticeLongSuspend",
    "daily_statistics": "CollectStats",
    "payment_info_removed": "RemovePaymentInfo",
    "completed_bills": "finalize_billing",
    "invoice_documents": "send_documents",
    "closed_day": "closeofday",
    "rolled_back_transactions": "C1-TXNRB",
    "feed_bills_deleted": "C1-DELBL",
    "feed_charges_cancelled": "C1-TXNCU",
    "cancelled_feed": "C1-TXCNC",
    "disaggregation_requests": "C1-DISTG",
    "disagg_bill_segments_deleted": "C1-BSEGD",
    "disagg_pending_bills_deleted": "C1-PNBD",
    "disaggregated_legs": "C1-IDENT",
    "disaggregated_transactions": "C1-PDTXN",
    "disaggregated_charges": "C1-TXNCU",
    "completed_disaggregation": "C1-DARSU",
    "account_validation_results": "account_validation_batch",
    "customer_data_sync": "customer_data_sync",
    "contract_data_sync": "contract_data_sync",
    "billing_data_sync": "billing_data_sync",
    "payment_data_sync": "payment_data_sync",
}

# The close of day in the seed's order (nightly_batch_closeofday.txt).
CLOSEOFDAY_CHAIN = ["checked_database", "managed_files", "tax_rates_in_effect", "entity_statuses",
                    "recurring_charges", "account_balances", "late_fees", "overdue_accounts", "financial_activity",
                    "pending_bills", "paid_services", "customer_notices", "daily_statistics",
                    "payment_info_removed", "completed_bills", "invoice_documents", "closed_day"]


def _seed_functions(batch: str) -> list[str]:
    """The seed names a tag stands for: a TFM batch code (C1-…) is one; a BillMax range such as
    ``OpenFutureStartdateServices-ClearDiscounts`` names its first and last function."""
    return [batch] if batch.startswith("C1-") else batch.split("-")


def test_every_asset_names_its_seed_batch():
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == {*SEED_BATCHES, "payments"}
    for name, batch in SEED_BATCHES.items():
        node = graph.get(AssetKey(name))
        assert node.tags["seed_batch"] == batch
        if batch != "upload":
            assert all(function in node.description for function in _seed_functions(batch)), name
    assert "seed_batch" not in graph.get(AssetKey("payments")).tags  # payment files are ours, not a seed batch


def test_lineage_runs_from_the_upload_to_the_clean_up():
    graph = defs.resolve_asset_graph()
    chain = ["staged_feed", "validated_header", "validated_transactions", "transaction_legs",
             "transaction_summaries", "priced_summaries", "leg_statuses", "billable_charges",
             "completed_transactions", "aggregation_cleanup"]
    for upstream, downstream in zip(chain, chain[1:]):
        assert AssetKey(upstream) in graph.get(AssetKey(downstream)).parent_keys
    assert AssetKey("effective_pricing") in graph.get(AssetKey("priced_summaries")).parent_keys


def test_the_close_of_day_runs_in_date_order_each_night():
    graph = defs.resolve_asset_graph()
    first = graph.get(AssetKey("checked_database"))
    assert AssetKey("checked_database") in first.parent_keys  # the previous day's, by its partition mapping
    for upstream, downstream in zip(CLOSEOFDAY_CHAIN, CLOSEOFDAY_CHAIN[1:]):
        assert graph.get(AssetKey(downstream)).parent_keys == {AssetKey(upstream)}
    job = defs.resolve_job_def("closeofday_job")
    assert job.partitions_def.timezone == "America/Chicago"
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == set(CLOSEOFDAY_CHAIN)
    schedule = defs.resolve_schedule_def("closeofday_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 0 * * *", "America/Chicago")


def test_rollback_cancellation_and_disaggregation_graphs_hang_off_aggregation_and_invoicing():
    graph = defs.resolve_asset_graph()
    chains = [
        ["aggregation_cleanup", "rolled_back_transactions"],
        ["aggregation_cleanup", "feed_bills_deleted", "feed_charges_cancelled", "cancelled_feed"],
        ["aggregation_cleanup", "disaggregation_requests", "disagg_bill_segments_deleted",
         "disagg_pending_bills_deleted", "disaggregated_legs", "disaggregated_transactions", "disaggregated_charges",
         "completed_disaggregation"],
    ]
    for chain in chains:
        for upstream, downstream in zip(chain, chain[1:]):
            assert AssetKey(upstream) in graph.get(AssetKey(downstream)).parent_keys
    for invoiced in ("feed_bills_deleted", "disagg_bill_segments_deleted"):
        assert AssetKey("pending_bills") in graph.get(AssetKey(invoiced)).parent_keys
    assert defs.resolve_job_def("cancellation_job").partitions_def.name == "feeds"
    assert defs.resolve_job_def("disaggregation_job").partitions_def is None
    assert defs.resolve_job_def("rebuild_bills_job").partitions_def.timezone == "America/Chicago"


def test_jobs_sensors_and_checks_load():
    job = defs.resolve_job_def("aggregation_job")
    assert job.partitions_def.name == "feeds"
    assert defs.resolve_job_def("refresh_pricing_job")
    sensors = {name: defs.resolve_sensor_def(name).job_name for name in (
        "feed_sensor", "reaggregation_sensor", "cancellation_sensor", "bill_rebuild_sensor", "pricing_change_sensor",
        "payment_sensor")}
    assert sensors == {"feed_sensor": "aggregation_job", "reaggregation_sensor": "aggregation_job",
                       "cancellation_sensor": "cancellation_job", "bill_rebuild_sensor": "rebuild_bills_job",
                       "pricing_change_sensor": "disaggregation_job", "payment_sensor": "payments_job"}
    assert defs.resolve_job_def("payments_job").partitions_def.name == "payment_files"
    checks = {(key.asset_key.to_user_string(), key.name) for key in defs.resolve_asset_graph().asset_check_keys}
    invariants = {"comp_legs_charged_once", "charge_sqis_equal_leg_sums"}
    assert checks == {
        *(("aggregation_cleanup", name) for name in invariants | {"feed_reconciles_with_control", "feed_error_rate"}),
        *(("cancelled_feed", name) for name in invariants | {"feed_reconciles_with_control"}),
        *(("rolled_back_transactions", name) for name in invariants),
        *(("completed_disaggregation", name) for name in invariants),
        *(("pending_bills", name) for name in ("bill_totals_reconcile", "charges_billed_once",
                                               "closed_windows_fully_billed")),
        ("checked_database", "dbck_severe"), ("checked_database", "dbck_warnings"),
        *(("account_validation_results", name) for name in ("account_completeness_check", "contract_validity_check",
                                                             "rate_consistency_check", "service_configuration_check")),
    }
    assert defs.resolve_sensor_def("run_monitor_sensor").default_status.value == "RUNNING"  # alerts need no operator


def test_the_steps_that_write_charges_share_one_pool():
    graph = defs.resolve_asset_graph()
    pooled = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).pools == {"billing_charges"}}
    assert pooled == {"billable_charges", "aggregation_cleanup", "feed_charges_cancelled", "disaggregated_transactions",
                      "disaggregated_charges", "recurring_charges", "late_fees", "pending_bills"}
