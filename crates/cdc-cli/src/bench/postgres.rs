//! The seed's SQL on a local PostgreSQL 15, driven through the `psql` client
//! (no PostgreSQL driver in the workspace). Loading is not timed; the timed
//! figure is the wall time of the psql process that runs just the seed's
//! transaction (BEGIN, the statements, COMMIT), connection start included.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use duckdb::Connection;

use super::data::{Workload, cdc_glob, literal};
use super::seed::{SeedTables, statements};

/// The Debian cluster the benchmark starts when no server answers.
const CLUSTER: [&str; 2] = ["15", "main"];
/// A database of its own, so the benchmark never touches other data.
const DATABASE: &str = "cdc_bench";

/// How this machine lets us in as the `postgres` superuser.
#[derive(Debug, Clone, Copy)]
enum Login {
    /// `psql -U postgres` over the socket: works with trust or a password file.
    Direct,
    /// As root, become `postgres` for peer authentication.
    Runuser,
    Su,
}

pub struct Postgres {
    login: Login,
    started_by_us: bool,
    /// Version and memory settings, printed next to the figures.
    pub about: String,
}

impl Postgres {
    /// Connects, starting the cluster if no server answers. The error is the
    /// reason to print when (c) is skipped.
    pub fn connect() -> Result<Self, String> {
        let mut started_by_us = false;
        let login = match probe() {
            Ok(login) => login,
            Err(first) => {
                let out = Command::new("pg_ctlcluster")
                    .args(["--skip-systemctl-redirect", CLUSTER[0], CLUSTER[1], "start"])
                    .output()
                    .map_err(|e| format!("no server answered ({first}) and pg_ctlcluster could not run: {e}"))?;
                if !out.status.success() {
                    return Err(format!(
                        "no server answered ({first}) and `pg_ctlcluster {} {} start` failed: {}",
                        CLUSTER[0],
                        CLUSTER[1],
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                started_by_us = true;
                // The server accepts connections a moment after it started.
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    match probe() {
                        Ok(login) => break login,
                        Err(e) if Instant::now() > deadline => {
                            return Err(format!("started the cluster but cannot connect: {e}"));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(300)),
                    }
                }
            }
        };
        let mut pg = Postgres { login, started_by_us, about: String::new() };
        let setup = || -> anyhow::Result<String> {
            let exists = pg.query("postgres", &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"))?;
            if exists.trim().is_empty() {
                pg.query("postgres", &format!("CREATE DATABASE {DATABASE}"))?;
            }
            pg.query(
                DATABASE,
                "SELECT split_part(version(), ' ', 2) || ', shared_buffers ' || current_setting('shared_buffers') \
                 || ', work_mem ' || current_setting('work_mem') || ', max_parallel_workers_per_gather ' \
                 || current_setting('max_parallel_workers_per_gather')",
            )
        };
        match setup() {
            Ok(about) => pg.about = format!("PostgreSQL {}", about.trim()),
            Err(e) => {
                pg.stop_if_started();
                return Err(format!("database {DATABASE}: {e:#}"));
            }
        }
        Ok(pg)
    }

    fn psql(&self, db: &str, extra: &[&str]) -> Command {
        psql_command(self.login, db, extra)
    }

    /// One statement's output, unaligned and without headers.
    fn query(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        let out = self.psql(db, &["-tA", "-c", sql]).stdin(Stdio::null()).output().context("running psql")?;
        check(&out, sql)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A script fed on stdin (no file the postgres user must be able to read).
    fn script(&self, sql: &str) -> anyhow::Result<String> {
        let path = std::env::temp_dir().join(format!("cdc-bench-{}.sql", std::process::id()));
        std::fs::write(&path, sql)?;
        let file = std::fs::File::open(&path)?;
        let out = self.psql(DATABASE, &["-f", "-"]).stdin(file).output().context("running psql")?;
        let _ = std::fs::remove_file(&path);
        check(&out, "script")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn copy_in(&self, table: &str, csv: &Path) -> anyhow::Result<()> {
        let file = std::fs::File::open(csv).with_context(|| format!("opening {}", csv.display()))?;
        let cmd = format!("\\copy {table} FROM pstdin WITH (FORMAT csv)");
        let out = self.psql(DATABASE, &["-c", &cmd]).stdin(file).output().context("running psql")?;
        check(&out, &cmd)
    }

    /// Loads the N original rows and the changes (not timed): CSV written by
    /// DuckDB from the same expressions and Parquet files as the other runs.
    pub fn load(&self, w: &Workload, raw_root: &Path, dir: &Path) -> anyhow::Result<()> {
        let accounts = dir.join("accounts.csv");
        let changes = dir.join("changes.csv");
        let duck = Connection::open_in_memory()?;
        duck.execute_batch(&format!(
            "COPY ({}) TO {} (FORMAT csv, HEADER false, FORCE_QUOTE (filler));
             COPY (SELECT Op, changets, ar_h_change_seq, aid, bid, abalance, filler FROM read_parquet({}))
               TO {} (FORMAT csv, HEADER false, FORCE_QUOTE (filler));",
            w.original_rows(),
            literal(&accounts),
            literal(cdc_glob(raw_root)),
            literal(&changes)
        ))
        .context("exporting CSV for PostgreSQL")?;
        self.script(
            "DROP TABLE IF EXISTS public.stage_pgbench_accounts, public.pgbench_accounts, \
               bench.accounts_orig, cdcdata.cdc_pgbench_accounts;
             CREATE SCHEMA IF NOT EXISTS bench;
             CREATE SCHEMA IF NOT EXISTS cdcdata;
             CREATE UNLOGGED TABLE bench.accounts_orig (changets TIMESTAMP, aid INTEGER, bid INTEGER, \
               abalance INTEGER, filler VARCHAR(84)) WITH (autovacuum_enabled = false);
             CREATE TABLE cdcdata.cdc_pgbench_accounts (op VARCHAR(1), changets TIMESTAMP, \
               ar_h_change_seq VARCHAR(35), aid INTEGER, bid INTEGER, abalance INTEGER, filler VARCHAR(84)) \
               WITH (autovacuum_enabled = false);",
        )?;
        self.copy_in("bench.accounts_orig", &accounts)?;
        self.copy_in("cdcdata.cdc_pgbench_accounts", &changes)?;
        self.script("VACUUM ANALYZE bench.accounts_orig; VACUUM ANALYZE cdcdata.cdc_pgbench_accounts;")?;
        let _ = std::fs::remove_file(&accounts);
        let _ = std::fs::remove_file(&changes);
        Ok(())
    }

    /// A fresh target with the original rows (not timed). VACUUM sets hint
    /// bits and statistics, CHECKPOINT flushes, so the timed run neither
    /// rewrites every page nor waits for a checkpoint it did not cause; no
    /// autovacuum worker competes with it (the tables are vacuumed by hand).
    pub fn reset_target(&self) -> anyhow::Result<()> {
        self.script(
            "DROP TABLE IF EXISTS public.stage_pgbench_accounts;
             DROP TABLE IF EXISTS public.pgbench_accounts;
             CREATE TABLE public.pgbench_accounts (changets TIMESTAMP, aid INTEGER, bid INTEGER, \
               abalance INTEGER, filler VARCHAR(84)) WITH (autovacuum_enabled = false);
             INSERT INTO public.pgbench_accounts SELECT * FROM bench.accounts_orig;
             VACUUM ANALYZE public.pgbench_accounts;
             CHECKPOINT;",
        )?;
        Ok(())
    }

    /// Runs the seed's transaction; returns the psql process's wall time and
    /// the per-statement times `\timing` printed (BEGIN, statements, COMMIT).
    pub fn run_seed(&self) -> anyhow::Result<(f64, Vec<f64>)> {
        let tables = SeedTables {
            target: "public.pgbench_accounts",
            target_ref: "pgbench_accounts",
            stage: "public.stage_pgbench_accounts",
            stage_ref: "stage_pgbench_accounts",
            source: "cdcdata.cdc_pgbench_accounts",
            create_like: true,
        };
        let mut sql = String::from("\\timing on\nBEGIN;\n");
        for s in statements(&tables) {
            sql.push_str(&s);
            sql.push_str(";\n");
        }
        sql.push_str("COMMIT;\n");
        let path = std::env::temp_dir().join(format!("cdc-bench-seed-{}.sql", std::process::id()));
        std::fs::write(&path, &sql)?;
        let file = std::fs::File::open(&path)?;
        let mut cmd = self.psql(DATABASE, &["-q", "-f", "-"]);
        cmd.stdin(file);
        let started = Instant::now();
        let out = cmd.output().context("running psql")?;
        let secs = started.elapsed().as_secs_f64();
        let _ = std::fs::remove_file(&path);
        check(&out, "the seed's transaction")?;
        let times = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("Time: "))
            .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
            .map(|ms| ms / 1000.0)
            .collect();
        Ok((secs, times))
    }

    /// Drops the benchmark database (unless kept) and stops the server if
    /// this run started it.
    pub fn finish(self, keep: bool) {
        if !keep {
            let _ = self.query("postgres", &format!("DROP DATABASE IF EXISTS {DATABASE}"));
        }
        self.stop_if_started();
    }

    fn stop_if_started(&self) {
        if self.started_by_us {
            let _ = Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect", CLUSTER[0], CLUSTER[1], "stop"])
                .output();
        }
    }

    pub fn started_by_us(&self) -> bool {
        self.started_by_us
    }
}

/// The first way of logging in that answers `SELECT 1`.
fn probe() -> Result<Login, String> {
    let mut errors = Vec::new();
    for login in [Login::Direct, Login::Runuser, Login::Su] {
        let out = psql_command(login, "postgres", &["-tA", "-c", "SELECT 1"]).stdin(Stdio::null()).output();
        match out {
            Ok(o) if o.status.success() => return Ok(login),
            Ok(o) => errors.push(format!("{login:?}: {}", String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => errors.push(format!("{login:?}: {e}")),
        }
    }
    Err(errors.join("; "))
}

fn psql_command(login: Login, db: &str, extra: &[&str]) -> Command {
    // -X: no ~/.psqlrc; -w: never wait for a password prompt.
    let mut args: Vec<String> = ["-X", "-w", "-v", "ON_ERROR_STOP=1", "-d", db].iter().map(|s| s.to_string()).collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    match login {
        Login::Direct => {
            let mut c = Command::new("psql");
            c.args(["-U", "postgres", "-h", "/var/run/postgresql"]).args(&args);
            c
        }
        Login::Runuser => {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "psql"]).args(&args);
            c
        }
        Login::Su => {
            let line = std::iter::once("psql".to_string()).chain(args.iter().map(|a| shell_quote(a)));
            let mut c = Command::new("su");
            c.args(["postgres", "-c", &line.collect::<Vec<_>>().join(" ")]);
            c
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn check(out: &std::process::Output, what: &str) -> anyhow::Result<()> {
    if !out.status.success() {
        bail!("psql failed on {what}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}
