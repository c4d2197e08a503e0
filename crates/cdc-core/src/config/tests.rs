use super::*;

const DEMO: &str = include_str!("../../../../config/pipeline.toml");

fn err(text: &str) -> String {
    PipelineConfig::parse(text, "test.toml").unwrap_err().to_string()
}

/// The demo config with one substitution applied, so each test changes one thing.
fn demo_with(from: &str, to: &str) -> String {
    assert!(DEMO.contains(from), "demo config no longer contains {from:?}");
    DEMO.replacen(from, to, 1)
}

#[test]
fn demo_config_parses_with_the_expected_tables() {
    // GIVEN the shipped demo config WHEN parsed
    let cfg = PipelineConfig::parse(DEMO, "pipeline.toml").unwrap();
    // THEN four upsert dimensions (the pgbench ones and type_samples), keyless append facts, one derived table
    let dims: Vec<_> = cfg.tables_of_kind(TableKind::Dimension).map(|t| t.name.as_str()).collect();
    assert_eq!(dims, ["pgbench_branches", "pgbench_tellers", "pgbench_accounts", "type_samples"]);
    let facts: Vec<_> = cfg.tables_of_kind(TableKind::Fact).map(|t| t.name.as_str()).collect();
    assert_eq!(facts, ["pgbench_history", "type_events"]);
    let history = cfg.table("pgbench_history").unwrap();
    assert_eq!((history.kind.clone(), history.mode.clone()), (TableKind::Fact, TableMode::Append));
    assert!(history.key.is_empty());
    assert_eq!(cfg.derived[0].name.as_str(), "weekly_account_change_summary");
    assert_eq!(cfg.table("pgbench_accounts").unwrap().lateness_window, Duration::from_secs(2 * 86400));
    assert!(cfg.warnings().is_empty());
}

#[test]
fn unknown_key_is_an_error_naming_line_and_field() {
    let text = demo_with("kind = \"dimension\"", "kind = \"dimension\"\nflavour = \"x\"");
    let e = err(&text);
    assert!(e.contains("flavour") && e.contains("line"), "{e}");
}

#[test]
fn upsert_without_key_is_an_error_naming_the_table() {
    let text = demo_with("key = [\"bid\"]\n", "");
    let e = err(&text);
    assert!(e.contains("pgbench_branches") && e.contains("`key`") && e.contains("upsert"), "{e}");
    assert!(e.contains("line 28"), "line of the table's name expected: {e}");
}

#[test]
fn key_must_be_a_listed_column() {
    let e = err(&demo_with("key = [\"aid\"]", "key = [\"account\"]"));
    assert!(e.contains("pgbench_accounts") && e.contains("`account` is not one of the table's columns"), "{e}");
}

#[test]
fn duplicate_table_is_an_error() {
    let e = err(&demo_with("name = \"pgbench_tellers\"", "name = \"pgbench_branches\""));
    assert!(e.contains("duplicate table `pgbench_branches`"), "{e}");
}

#[test]
fn unsafe_identifiers_are_rejected() {
    for (from, to) in [
        ("name = \"pgbench_history\"", "name = \"pgbench_history; drop table x\""),
        ("{ name = \"delta\"", "{ name = \"del\\\"ta\""),
        ("commit_ts_column = \"changets\"", "commit_ts_column = \"change ts\""),
        ("target_schema = \"public\"", "target_schema = \"pub-lic\""),
    ] {
        let e = err(&demo_with(from, to));
        assert!(e.contains("unsafe identifier"), "{to}: {e}");
    }
}

#[test]
fn bad_types_windows_and_derived_sql_are_rejected() {
    let e = err(&demo_with("type = \"varchar(84)\"", "type = \"varchar(0)\""));
    assert!(e.contains("columns[3].type"), "{e}");
    let e = err(&demo_with("type = \"integer\"", "type = \"int128\""));
    assert!(e.contains("unknown column type"), "{e}");
    let e = err(&demo_with("lateness_window = \"2d\"", "lateness_window = \"two days\""));
    assert!(e.contains("lateness_window"), "{e}");
    let e = err(&demo_with("GROUP BY 1, 2", "GROUP BY 1, 2; DELETE FROM public.pgbench_accounts"));
    assert!(e.contains("one SELECT"), "{e}");
}

#[test]
fn dms_columns_must_not_be_listed_as_table_columns() {
    let e =
        err(&demo_with("{ name = \"delta\", type = \"integer\" }", "{ name = \"changets\", type = \"timestamp\" }"));
    assert!(e.contains("added by DMS"), "{e}");
}

#[test]
fn missing_sequence_column_warns() {
    let cfg = PipelineConfig::parse(&demo_with("sequence_column = \"ar_h_change_seq\"\n", ""), "t").unwrap();
    let w = cfg.warnings();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("pgbench_branches") && w[0].contains("file path only"), "{}", w[0]);
}

#[test]
fn sequence_values_are_numbers_unless_the_config_says_text() {
    // GIVEN the demo config, and one whose branches say sequence_type = "text"
    let number = PipelineConfig::parse(DEMO, "t").unwrap();
    let seq = "sequence_column = \"ar_h_change_seq\"\n";
    let text = PipelineConfig::parse(&demo_with(seq, &format!("{seq}sequence_type = \"text\"\n")), "t").unwrap();
    // THEN the default is a number, and the field switches it for that table only
    assert_eq!(number.table("pgbench_branches").unwrap().sequence_type, SequenceType::Number);
    assert_eq!(text.table("pgbench_branches").unwrap().sequence_type, SequenceType::Text);
    assert_eq!(text.table("pgbench_tellers").unwrap().sequence_type, SequenceType::Number);
}

#[test]
fn a_sequence_type_needs_a_sequence_column_and_a_known_value() {
    let seq = "sequence_column = \"ar_h_change_seq\"\n";
    let e = err(&demo_with(seq, "sequence_type = \"text\"\n"));
    assert!(e.contains("`sequence_type` needs a `sequence_column`"), "{e}");
    let e = err(&demo_with(seq, &format!("{seq}sequence_type = \"float\"\n")));
    assert!(e.contains("sequence_type") && e.contains("float"), "{e}");
}

#[test]
fn fingerprint_changes_with_the_config_and_only_then() {
    let a = PipelineConfig::parse(DEMO, "a").unwrap().fingerprint();
    let b = PipelineConfig::parse(&format!("# a comment\n{DEMO}"), "b").unwrap().fingerprint();
    let c = PipelineConfig::parse(&demo_with("\"2d\"", "\"3d\""), "c").unwrap().fingerprint();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn column_types_round_trip() {
    for t in [
        "smallint",
        "integer",
        "bigint",
        "real",
        "double precision",
        "boolean",
        "date",
        "timestamp",
        "varchar",
        "varchar(84)",
        "char(3)",
        "numeric(12,2)",
    ] {
        assert_eq!(ColumnType::parse(t).unwrap().to_string(), t);
    }
}

#[test]
fn text_lengths_count_characters_that_redshift_can_hold_in_bytes() {
    // GIVEN the widest varchar whose characters always fit 65,535 bytes, and one more
    assert_eq!(ColumnType::parse("varchar(16383)").unwrap(), ColumnType::Varchar(Some(16383)));
    let e = err(&demo_with("type = \"varchar(84)\"", "type = \"varchar(16384)\""));
    // THEN the longer one is refused naming the field, the bytes and the way out
    assert!(e.contains("columns[3].type") && e.contains("65535 bytes") && e.contains("without a length"), "{e}");
    let e = err(&demo_with("type = \"varchar(84)\"", "type = \"char(4097)\""));
    assert!(e.contains("columns[3].type") && e.contains("char length"), "{e}");
    assert_eq!(ColumnType::parse("char(3)").unwrap().max_chars(), Some(3));
    assert_eq!(ColumnType::parse("text").unwrap().max_chars(), None);
}

#[test]
fn timestamps_with_a_zone_are_refused_naming_the_column_type() {
    for ty in ["timestamptz", "timestamp with time zone"] {
        let e = err(&demo_with(
            "{ name = \"mtime\", type = \"timestamp\" }",
            &format!("{{ name = \"mtime\", type = \"{ty}\" }}"),
        ));
        assert!(e.contains("pgbench_history") && e.contains(".type") && e.contains("Spectrum"), "{ty}: {e}");
    }
}

#[test]
fn unload_file_sizes_below_a_parquet_row_group_are_refused_and_rounding_is_told() {
    let with_unload = |mb: u32| format!("{DEMO}\n[unload]\nmax_file_size_mb = {mb}\n");
    // GIVEN a size under 32 MB THEN a config error naming the field and the rounding
    let e = err(&with_unload(31));
    assert!(e.contains("unload.max_file_size_mb") && e.contains("32 MB"), "{e}");
    // GIVEN 200 MB THEN it loads, with a warning that Redshift writes 192 MB files
    let cfg = PipelineConfig::parse(&with_unload(200), "t").unwrap();
    assert_eq!(cfg.unload.effective_file_size_mb(), 192);
    assert!(cfg.warnings().iter().any(|w| w.contains("192 MB")), "{:?}", cfg.warnings());
    // AND the default is already a multiple of 32
    let default = PipelineConfig::parse(DEMO, "t").unwrap();
    assert_eq!(default.unload.max_file_size_mb, default.unload.effective_file_size_mb());
}

#[test]
fn a_derived_select_redshift_cannot_materialize_is_refused_naming_the_table_and_clause() {
    for (from, to, expected) in [
        ("GROUP BY 1, 2\n", "GROUP BY 1, 2\nORDER BY 1\n", "ORDER BY"),
        ("GROUP BY 1, 2\n", "GROUP BY 1, 2\nLIMIT 5\n", "LIMIT"),
        ("FROM public.pgbench_history h", "FROM public.pgbench_history_view h", "standard views"),
        ("FROM public.pgbench_history h", "FROM pg_catalog.pg_class h", "system table"),
        ("FROM public.pgbench_history h", "FROM pgbench_history h", "schema-qualified"),
        ("count(*) AS account_changes", "f_count(h.aid) AS account_changes", "user-defined function"),
    ] {
        let e = err(&demo_with(from, to));
        assert!(e.contains("weekly_account_change_summary") && e.contains(expected), "{to}: {e}");
    }
}

#[test]
fn hostile_identifiers_are_refused_naming_the_field_and_reserved_words_load() {
    // GIVEN names that cannot be one safe identifier on Redshift, DuckDB and Glue alike
    let long = "x".repeat(128);
    for (what, name) in [
        ("a quote", "del\\\"ta"),
        ("a semicolon", "delta;drop"),
        ("a space", "del ta"),
        ("a hyphen", "del-ta"),
        ("unicode", "naïve"),
        ("a leading digit", "1delta"),
        ("128 characters", long.as_str()),
    ] {
        // WHEN a column is named so THEN the config names the field
        let e = err(&demo_with("{ name = \"delta\"", &format!("{{ name = \"{name}\"")));
        assert!(e.contains("unsafe identifier") && e.contains("line"), "{what}: {e}");
    }
    // AND a table name leaves room for the pipeline's suffixes
    let e = err(&demo_with("name = \"pgbench_history\"", &format!("name = \"{}\"", "h".repeat(111))));
    assert!(e.contains("field `name`") && e.contains("110"), "{e}");
    // GIVEN reserved words of Redshift or DuckDB as names THEN they load: every name is quoted
    for reserved in ["user", "select", "order", "group", "table", "timestamp", "offset", "partition"] {
        let text = demo_with("{ name = \"delta\"", &format!("{{ name = \"{reserved}\""));
        let cfg = PipelineConfig::parse(&text, "t").unwrap_or_else(|e| panic!("{reserved}: {e}"));
        assert!(cfg.table("pgbench_history").unwrap().columns.iter().any(|c| c.name.as_str() == reserved));
    }
}

#[test]
fn the_future_timestamp_bound_defaults_to_a_day_and_parses_like_a_window() {
    // GIVEN the demo config without the key THEN a day
    let cfg = PipelineConfig::parse(DEMO, "t").unwrap();
    assert_eq!(cfg.future_timestamp_bound, Duration::from_secs(86_400));
    // GIVEN `6h` THEN six hours
    let six = demo_with("max_files_per_load = 500", "max_files_per_load = 500\nfuture_timestamp_bound = \"6h\"");
    assert_eq!(PipelineConfig::parse(&six, "t").unwrap().future_timestamp_bound, Duration::from_secs(6 * 3600));
    // GIVEN a value that is not a duration, or zero THEN an error naming the field
    for bad in ["\"soon\"", "\"0s\""] {
        let text =
            demo_with("max_files_per_load = 500", &format!("max_files_per_load = 500\nfuture_timestamp_bound = {bad}"));
        let e = err(&text);
        assert!(e.contains("pipeline.future_timestamp_bound"), "{e}");
    }
}

#[test]
fn the_work_window_and_batch_cap_default_inside_the_state_machine_s_timeout_and_are_bounded() {
    // GIVEN the demo config without the keys THEN 35 minutes and 20 batches
    let cfg = PipelineConfig::parse(DEMO, "t").unwrap();
    assert_eq!((cfg.work_window, cfg.max_batches_per_run), (Duration::from_secs(35 * 60), 20));
    // GIVEN values inside the bounds THEN they are taken
    let set = "max_files_per_load = 500\nwork_window = \"2m\"\nmax_batches_per_run = 3";
    let cfg = PipelineConfig::parse(&demo_with("max_files_per_load = 500", set), "t").unwrap();
    assert_eq!((cfg.work_window, cfg.max_batches_per_run), (Duration::from_secs(120), 3));
    // GIVEN a window past 40 minutes, under a minute, or not a duration; a cap of 0 or 101 THEN errors naming the field
    for (bad, field) in [
        ("work_window = \"45m\"", "pipeline.work_window"),
        ("work_window = \"30s\"", "pipeline.work_window"),
        ("work_window = \"soon\"", "pipeline.work_window"),
        ("max_batches_per_run = 0", "pipeline.max_batches_per_run"),
        ("max_batches_per_run = 101", "pipeline.max_batches_per_run"),
    ] {
        let e = err(&demo_with("max_files_per_load = 500", &format!("max_files_per_load = 500\n{bad}")));
        assert!(e.contains(field), "{bad}: {e}");
    }
}

#[test]
fn the_full_listing_comes_every_six_hours_unless_set_between_an_hour_and_a_week() {
    assert_eq!(PipelineConfig::parse(DEMO, "t").unwrap().full_listing_every, Duration::from_secs(6 * 3600));
    let set = demo_with("max_files_per_load = 500", "max_files_per_load = 500\nfull_listing_every = \"1d\"");
    assert_eq!(PipelineConfig::parse(&set, "t").unwrap().full_listing_every, Duration::from_secs(86_400));
    for bad in ["\"30m\"", "\"8d\"", "\"often\""] {
        let text =
            demo_with("max_files_per_load = 500", &format!("max_files_per_load = 500\nfull_listing_every = {bad}"));
        assert!(err(&text).contains("pipeline.full_listing_every"), "{bad}");
    }
}
