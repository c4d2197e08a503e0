CALL "cdc_control".cdc_assert_empty('SELECT CAST(c.n AS VARCHAR(16)) FROM (SELECT COUNT(*) AS n FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''cdc_control'') AND LOWER(table_name) = LOWER(''type_events__progress'') AND LOWER(column_name) IN (''size'', ''version'', ''modified'')) c WHERE c.n < 3 LIMIT 1', 'CDC_DATA_ERROR: setup: table cdc_control.type_events__progress was created by an older release, without the columns size, version and modified; run ALTER TABLE "cdc_control"."type_events__progress" ADD COLUMN size BIGINT; ALTER TABLE "cdc_control"."type_events__progress" ADD COLUMN version VARCHAR(128); ALTER TABLE "cdc_control"."type_events__progress" ADD COLUMN modified TIMESTAMP (those missing); then run again. Columns found: ');

CREATE TABLE IF NOT EXISTS "cdc_control"."type_events__columns" (column_name VARCHAR(127) NOT NULL, column_type VARCHAR(64) NOT NULL, change VARCHAR(8) NOT NULL, ordinal INTEGER NOT NULL, first_file VARCHAR(1024) NOT NULL, added_at TIMESTAMP NOT NULL);

CREATE TABLE IF NOT EXISTS "cdc_control"."type_events__paired" ("e_id" INTEGER, "c_smallint" SMALLINT, "c_integer" INTEGER, "c_bigint" BIGINT, "c_real" REAL, "c_double" DOUBLE PRECISION, "c_boolean" BOOLEAN, "c_date" DATE, "c_timestamp" TIMESTAMP, "c_numeric" NUMERIC(18,4), "c_varchar" VARCHAR(24), "c_text" VARCHAR(65535), "c_char" VARCHAR(12), _cdc_fp VARCHAR(32) NOT NULL, _cdc_ts TIMESTAMP NOT NULL, _cdc_seq NUMERIC(38,0));

CALL "cdc_control".cdc_assert_empty('SELECT CAST(data_type AS VARCHAR(128)) FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''public'') AND LOWER(table_name) = LOWER(''type_events'') AND LOWER(column_name) = LOWER(''ar_h_change_seq'') AND NOT (LOWER(data_type) IN (''numeric'', ''decimal(38,0)'') AND numeric_precision = 38 AND numeric_scale = 0) LIMIT 1', 'CDC_DATA_ERROR: setup: table public.type_events: column ar_h_change_seq was created before with another type than the config''s sequence_type = "number" (NUMERIC(38,0)); migrate the column, or set the table''s sequence_type to match it. It is ');

DROP MATERIALIZED VIEW IF EXISTS "public"."weekly_account_change_summary";

CREATE MATERIALIZED VIEW "public"."weekly_account_change_summary" AS SELECT date_trunc('week', h.mtime) AS week_start,
       h.bid,
       count(*) AS account_changes,
       count(DISTINCT h.aid) AS accounts_changed,
       sum(h."delta") AS net_change
FROM public.pgbench_history h
GROUP BY 1, 2;
