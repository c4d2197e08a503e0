//! The Warehouse port's conformance suite on the Redshift Data API adapter,
//! through the real client, against the emulator.

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redshift_data_api_warehouse_passes_the_warehouse_conformance_suite() {
    // GIVEN the adapter on the emulator, with results in pages of 250 rows
    let emulator = cdc_redshift_emulator::Emulator::start(cdc_redshift_emulator::EmulatorConfig {
        page_rows: 250,
        ..Default::default()
    })
    .unwrap();
    let wh = support::warehouse(&emulator);
    // WHEN every conformance case runs THEN all pass
    cdc_core::ports::warehouse_conformance::run_all(&wh, "conformance").await;
}
