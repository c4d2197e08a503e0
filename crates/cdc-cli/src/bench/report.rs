//! The figures of `cdc bench merge` and the goal checks.

use comfy_table::Table;

/// Goals the project set for its merge.
const GOAL_VS_SEED_DUCKDB: f64 = 1.0;
const GOAL_VS_SEED_POSTGRES: f64 = 25.0;
const GOAL_CHANGES_PER_SEC: f64 = 2_000_000.0;
const GOAL_CHANGES_PER_SEC_AT: u64 = 10_000_000;
const GOAL_SCALING: f64 = 1.5;

pub enum PgOutcome {
    NotRequested,
    Skipped(String),
    Done(Vec<f64>),
}

pub struct SizeResult {
    pub n: u64,
    pub changes: u64,
    /// Fewer repeats than asked, to bound the run time.
    pub reduced: bool,
    pub project: Vec<f64>,
    pub seed_duckdb: Vec<f64>,
    /// Keys where the seed's result differs from the oracle (its ties by
    /// timestamp alone), from the last repeat.
    pub seed_mismatches: u64,
    pub postgres: PgOutcome,
}

impl SizeResult {
    pub fn new(n: u64, changes: u64, reduced: bool) -> Self {
        SizeResult {
            n,
            changes,
            reduced,
            project: Vec::new(),
            seed_duckdb: Vec::new(),
            seed_mismatches: 0,
            postgres: PgOutcome::NotRequested,
        }
    }

    fn a(&self) -> f64 {
        median(&self.project)
    }

    fn b(&self) -> f64 {
        median(&self.seed_duckdb)
    }

    fn c(&self) -> Option<f64> {
        match &self.postgres {
            PgOutcome::Done(t) => Some(median(t)),
            _ => None,
        }
    }

    fn rate(&self, secs: f64) -> f64 {
        self.changes as f64 / secs
    }
}

pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The median, with the range of the runs when there were several.
fn seconds(median: f64, runs: &[f64]) -> String {
    if runs.len() < 2 {
        return format!("{median:.3}");
    }
    let lo = runs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{median:.3} ({lo:.2}–{hi:.2})")
}

pub fn print(results: &[SizeResult], threads: &str, pg_about: Option<&str>, load: &str) {
    let mut table = Table::new();
    table.set_header([
        "target rows",
        "runs",
        "(a) project s",
        "(a) changes/s",
        "(b) seed DuckDB s",
        "(b) changes/s",
        "(c) seed PostgreSQL s",
        "(c) changes/s",
        "(b)/(a)",
        "(c)/(a)",
    ]);
    for r in results {
        let (a, b) = (r.a(), r.b());
        let runs = if r.reduced { format!("{} (reduced)", r.project.len()) } else { r.project.len().to_string() };
        let (c, c_rate, c_ratio) = match (&r.postgres, r.c()) {
            (PgOutcome::Done(runs), Some(c)) => (seconds(c, runs), rate(r.rate(c)), format!("{:.1}×", c / a)),
            (PgOutcome::Skipped(_), None) => ("skipped".into(), "".into(), "".into()),
            _ => ("".into(), "".into(), "".into()),
        };
        table.add_row([
            millions(r.n),
            runs,
            seconds(a, &r.project),
            rate(r.rate(a)),
            seconds(b, &r.seed_duckdb),
            rate(r.rate(b)),
            c,
            c_rate,
            format!("{:.2}×", b / a),
            c_ratio,
        ]);
    }
    let changes = results.first().map_or(0, |r| r.changes);
    println!(
        "\nMerge of {} changes; seconds are medians (range of the runs); DuckDB threads = {threads}; \
         (c) is the psql process's wall time.",
        millions(changes)
    );
    println!("Machine load average (1 min): {load}; other processes on the machine make the figures noisier.");
    if let Some(about) = pg_about {
        println!("(c) on {about}; plain tables without indexes, as the seed's Redshift tables.");
    }
    if results.iter().any(|r| r.reduced) {
        println!("Runs marked (reduced) used fewer repeats than --repeat to bound the run time (--large-repeat).");
    }
    for r in results.iter().filter(|r| r.seed_mismatches > 0) {
        println!(
            "Note: for N={} the seed's result differs from the oracle on {} keys (it orders equal timestamps arbitrarily).",
            millions(r.n),
            r.seed_mismatches
        );
    }
    println!("{table}");
    goals(results, threads);
}

fn goals(results: &[SizeResult], threads: &str) {
    println!();
    // (b)/(a) at every size.
    let figures: Vec<String> = results.iter().map(|r| format!("{}: {:.2}×", millions(r.n), r.b() / r.a())).collect();
    let met = results.iter().all(|r| r.b() / r.a() >= GOAL_VS_SEED_DUCKDB);
    line(met, &format!("project vs seed on DuckDB, (b)/(a) ≥ {GOAL_VS_SEED_DUCKDB}"), &figures.join(", "));

    let with_pg: Vec<&SizeResult> = results.iter().filter(|r| r.c().is_some()).collect();
    let what = format!("project on DuckDB vs seed on PostgreSQL, (c)/(a) ≥ {GOAL_VS_SEED_POSTGRES}");
    if with_pg.is_empty() {
        let why = results
            .iter()
            .find_map(|r| match &r.postgres {
                PgOutcome::Skipped(why) => Some(format!("skipped: {why}")),
                _ => None,
            })
            .unwrap_or_else(|| "no size ran on PostgreSQL".into());
        println!("goal {what}: not measured ({why})");
    } else {
        let figures: Vec<String> =
            with_pg.iter().map(|r| format!("{}: {:.1}×", millions(r.n), r.c().unwrap_or(f64::NAN) / r.a())).collect();
        let met = with_pg.iter().all(|r| r.c().unwrap_or(0.0) / r.a() >= GOAL_VS_SEED_POSTGRES);
        line(met, &what, &figures.join(", "));
    }

    let what = format!(
        "(a) changes/s on a {} target ≥ {} ({threads} DuckDB threads)",
        millions(GOAL_CHANGES_PER_SEC_AT),
        rate(GOAL_CHANGES_PER_SEC)
    );
    match results.iter().find(|r| r.n == GOAL_CHANGES_PER_SEC_AT) {
        Some(r) => line(r.rate(r.a()) >= GOAL_CHANGES_PER_SEC, &what, &rate(r.rate(r.a()))),
        None => println!("goal {what}: not measured (no {} target)", millions(GOAL_CHANGES_PER_SEC_AT)),
    }

    let small = results.iter().min_by_key(|r| r.n);
    let large = results.iter().max_by_key(|r| r.n);
    match (small, large) {
        (Some(s), Some(l)) if l.n > s.n => {
            let ratio = l.a() / s.a();
            line(
                ratio <= GOAL_SCALING,
                &format!("(a) time({} target)/time({} target) ≤ {GOAL_SCALING}", millions(l.n), millions(s.n)),
                &format!("{ratio:.2} ({:.3} s / {:.3} s)", l.a(), s.a()),
            );
        }
        _ => println!("goal (a) scaling with the target size ≤ {GOAL_SCALING}: not measured (one target size)"),
    }
}

fn line(met: bool, what: &str, figure: &str) {
    println!("goal {what}: {} — measured {figure}", if met { "met" } else { "NOT met" });
}

fn millions(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(100_000) {
        let m = n as f64 / 1e6;
        if m.fract() == 0.0 { format!("{m:.0}M") } else { format!("{m:.1}M") }
    } else {
        n.to_string()
    }
}

/// Thousands-separated changes per second.
fn rate(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
