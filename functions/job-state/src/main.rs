//! The job-state Lambda: every step of `cdc_core::steps` that the state machine
//! sends to `${JobStateFunctionArn}`, through the shared Lambda edge.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), cdc_lambda::Error> {
    cdc_lambda::serve(cdc_lambda::Function::JobState).await
}
