//! `cdc bench`: benchmarks that print figures. They are not tests: they build
//! large data sets, time the project's code against the seed's SQL and say
//! whether the performance goals are met.

mod data;
mod lambda_init;
mod listing;
mod merge;
mod postgres;
mod report;
mod seed;
mod unload;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// The CDC merge: the project's load against the seed's stored procedure,
    /// on DuckDB and on PostgreSQL, for several target table sizes.
    Merge(merge::MergeArgs),
    /// The optimized zone: one day of DMS files against its export (files,
    /// bytes, day-query time).
    Unload(unload::UnloadArgs),
    /// The Lambda functions' cold start (init time, peak RSS) against the
    /// seed's Python unload function.
    LambdaInit(lambda_init::LambdaInitArgs),
    /// The claim's raw-zone listing over a year of one table's DMS files in
    /// moto's S3: list calls and time of an idle claim, a claim with new
    /// files, and a whole listing.
    Listing(listing::ListingArgs),
}

pub async fn bench(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Merge(args) => merge::run(args).await,
        BenchCommand::Unload(args) => unload::run(args).await,
        BenchCommand::LambdaInit(args) => lambda_init::run(args).await,
        BenchCommand::Listing(args) => listing::run(args).await,
    }
}
