//! Seed 000's `refresh_account_change_summary` as statements, for DuckDB and
//! PostgreSQL. Kept as the seed wrote it, with two changes the benchmark
//! needs: no yesterday-partition filter (all benchmark files are the batch)
//! and no materialized-view refresh (not part of the merge).

/// Where the seed's statements read and write.
pub struct SeedTables<'a> {
    /// The target, e.g. `"public"."pgbench_accounts"`.
    pub target: &'a str,
    /// The target's own name, for the column references of a DELETE.
    pub target_ref: &'a str,
    pub stage: &'a str,
    pub stage_ref: &'a str,
    /// The changes: the seed's external table, or `read_parquet(...)`.
    pub source: &'a str,
    /// PostgreSQL and Redshift have `CREATE TABLE t (LIKE s)`; DuckDB does not,
    /// so there the empty copy comes from `CREATE TABLE AS ... LIMIT 0`.
    pub create_like: bool,
}

/// The statements between BEGIN and COMMIT.
pub fn statements(t: &SeedTables) -> Vec<String> {
    let SeedTables { target, target_ref, stage, stage_ref, source, create_like } = *t;
    let create = if create_like {
        format!("CREATE TABLE IF NOT EXISTS {stage} (LIKE {target})")
    } else {
        format!("CREATE TABLE IF NOT EXISTS {stage} AS SELECT * FROM {target} LIMIT 0")
    };
    vec![
        // Create staging table with a column for type of operation
        create,
        format!("ALTER TABLE {stage} ADD COLUMN op VARCHAR(8)"),
        // Save the last version of the records into the staging table
        format!(
            "INSERT INTO {stage} (changets, aid, bid, abalance, filler, op) \
             SELECT changets, aid, bid, abalance, filler, op FROM ( \
             SELECT *, row_number() over (partition by aid order by changets desc) AS lastchange \
             FROM {source}) x WHERE lastchange=1"
        ),
        // Clean changed records from the original table
        format!(
            "DELETE FROM {target} USING {stage} WHERE {target_ref}.aid = {stage_ref}.aid \
             AND {target_ref}.changets < {stage_ref}.changets"
        ),
        // Clean pre-existing records from the staging table
        format!(
            "DELETE FROM {stage} USING {target} WHERE {target_ref}.aid = {stage_ref}.aid \
             AND {target_ref}.changets >= {stage_ref}.changets"
        ),
        // Update the destination table with records from the staging table
        format!(
            "INSERT INTO {target} SELECT changets, aid, bid, abalance, filler FROM ( \
             SELECT * FROM {stage} WHERE op='I' OR op='U') x"
        ),
        // Delete the staging table
        format!("DROP TABLE {stage}"),
    ]
}
