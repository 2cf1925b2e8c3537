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
    "pending_bills": "DoInvoicing",
    "completed_bills": "finalize_billing",
    "invoice_documents": "send_documents",
    "closed_day": "closeofday",
}


def test_every_asset_names_its_seed_batch():
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == set(SEED_BATCHES)
    for name, batch in SEED_BATCHES.items():
        node = graph.get(AssetKey(name))
        assert node.tags["seed_batch"] == batch
        if batch != "upload":
            assert batch in node.description


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
    bills = graph.get(AssetKey("pending_bills"))
    assert AssetKey("pending_bills") in bills.parent_keys  # the previous day's, by its partition mapping
    assert AssetKey("pending_bills") in graph.get(AssetKey("completed_bills")).parent_keys
    assert AssetKey("completed_bills") in graph.get(AssetKey("invoice_documents")).parent_keys
    assert AssetKey("invoice_documents") in graph.get(AssetKey("closed_day")).parent_keys
    job = defs.resolve_job_def("closeofday_job")
    assert job.partitions_def.timezone == "America/Chicago"
    schedule = defs.resolve_schedule_def("closeofday_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 1 * * *", "America/Chicago")


def test_jobs_sensor_and_checks_load():
    job = defs.resolve_job_def("aggregation_job")
    assert job.partitions_def.name == "feeds"
    assert defs.resolve_job_def("refresh_pricing_job")
    assert defs.resolve_sensor_def("feed_sensor").job_name == "aggregation_job"
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"comp_legs_charged_once", "charge_sqis_equal_leg_sums", "feed_reconciles_with_control",
                      "bill_totals_reconcile", "charges_billed_once", "closed_windows_fully_billed"}
