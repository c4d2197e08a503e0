use clap::Subcommand;
#[derive(Subcommand)]
pub enum BenchCommand { Merge }
pub async fn bench(_c: BenchCommand) -> anyhow::Result<()> { Ok(()) }
