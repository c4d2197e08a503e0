//! `redshift-data-emulator`: the Redshift Data API emulator as a process,
//! for trying the pipeline or a client by hand.
//!
//! ```text
//! redshift-data-emulator [--port N] [--database FILE] [--page-rows N] [--aws]
//! ```
//! `--aws` reads the AWS settings from the environment (`AWS_ENDPOINT_URL`
//! pointing at a local S3 and Glue such as moto, `AWS_REGION`, credentials),
//! for external tables and UNLOAD. It prints its endpoint URL, then serves
//! until interrupted (Ctrl-C).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use cdc_redshift_emulator::{Emulator, EmulatorConfig};

const USAGE: &str = "usage: redshift-data-emulator [--port N] [--database FILE] [--page-rows N] [--aws]";

fn parse_args() -> Result<(EmulatorConfig, bool), String> {
    let mut config = EmulatorConfig::default();
    let mut aws = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--port" => {
                let port: u16 = value("--port")?.parse().map_err(|e| format!("--port: {e}"))?;
                config.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            }
            "--database" => config.database = Some(PathBuf::from(value("--database")?)),
            "--page-rows" => {
                config.page_rows = value("--page-rows")?.parse().map_err(|e| format!("--page-rows: {e}"))?
            }
            "--aws" => aws = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok((config, aws))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let (mut config, aws) = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("redshift-data-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    if aws {
        config.aws = Some(runtime.block_on(aws_config::load_defaults(aws_config::BehaviorVersion::latest())));
    }
    let emulator = match Emulator::start(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", emulator.endpoint_url());
    if let Err(e) = runtime.block_on(tokio::signal::ctrl_c()) {
        eprintln!("redshift-data-emulator: waiting for Ctrl-C: {e}");
    }
    drop(emulator);
    ExitCode::SUCCESS
}
