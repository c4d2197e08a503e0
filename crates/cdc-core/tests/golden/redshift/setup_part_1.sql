CREATE SCHEMA IF NOT EXISTS "public";

CREATE SCHEMA IF NOT EXISTS "cdc_control";

CREATE OR REPLACE PROCEDURE "cdc_control".cdc_assert_empty(query VARCHAR(65535), message VARCHAR(1024)) AS $$
DECLARE
  bad_file VARCHAR(65535);
  full_message VARCHAR(65535);
BEGIN
  EXECUTE query INTO bad_file;
  IF bad_file IS NOT NULL THEN
    full_message := message || bad_file;
    RAISE EXCEPTION '%', full_message;
  END IF;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE IF NOT EXISTS "cdc_control"."unloaded_days" (table_name VARCHAR(127) NOT NULL, changedate CHAR(8) NOT NULL, unloaded_at TIMESTAMP NOT NULL, row_count BIGINT NOT NULL, file_count BIGINT NOT NULL, byte_count BIGINT NOT NULL, source_files BIGINT NOT NULL, source_bytes BIGINT NOT NULL, source_newest_modified TIMESTAMP NOT NULL);

CREATE TABLE IF NOT EXISTS "public"."pgbench_branches" ("bid" INTEGER, "bbalance" INTEGER, "filler" VARCHAR(352), "changets" TIMESTAMP NOT NULL, "ar_h_change_seq" NUMERIC(38,0), _cdc_full_load BOOLEAN NOT NULL) DISTKEY("bid") SORTKEY("bid");

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_branches__progress" (file VARCHAR(1024) NOT NULL, kind CHAR(1) NOT NULL, partition_0 VARCHAR(8), row_count BIGINT NOT NULL, max_commit_ts TIMESTAMP, loaded_at TIMESTAMP NOT NULL, size BIGINT, version VARCHAR(128), modified TIMESTAMP);

CALL "cdc_control".cdc_assert_empty('SELECT CAST(c.n AS VARCHAR(16)) FROM (SELECT COUNT(*) AS n FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''cdc_control'') AND LOWER(table_name) = LOWER(''pgbench_branches__progress'') AND LOWER(column_name) IN (''size'', ''version'', ''modified'')) c WHERE c.n < 3 LIMIT 1', 'CDC_DATA_ERROR: setup: table cdc_control.pgbench_branches__progress was created by an older release, without the columns size, version and modified; run ALTER TABLE "cdc_control"."pgbench_branches__progress" ADD COLUMN size BIGINT; ALTER TABLE "cdc_control"."pgbench_branches__progress" ADD COLUMN version VARCHAR(128); ALTER TABLE "cdc_control"."pgbench_branches__progress" ADD COLUMN modified TIMESTAMP (those missing); then run again. Columns found: ');

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_branches__columns" (column_name VARCHAR(127) NOT NULL, column_type VARCHAR(64) NOT NULL, change VARCHAR(8) NOT NULL, ordinal INTEGER NOT NULL, first_file VARCHAR(1024) NOT NULL, added_at TIMESTAMP NOT NULL);

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_branches__tombstones" ("bid" INTEGER NOT NULL, _cdc_ts TIMESTAMP NOT NULL, _cdc_seq NUMERIC(38,0));

CALL "cdc_control".cdc_assert_empty('SELECT CAST(data_type AS VARCHAR(128)) FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''public'') AND LOWER(table_name) = LOWER(''pgbench_branches'') AND LOWER(column_name) = LOWER(''ar_h_change_seq'') AND NOT (LOWER(data_type) IN (''numeric'', ''decimal(38,0)'') AND numeric_precision = 38 AND numeric_scale = 0) LIMIT 1', 'CDC_DATA_ERROR: setup: table public.pgbench_branches: column ar_h_change_seq was created before with another type than the config''s sequence_type = "number" (NUMERIC(38,0)); migrate the column, or set the table''s sequence_type to match it. It is ');

CALL "cdc_control".cdc_assert_empty('SELECT CAST(data_type AS VARCHAR(128)) FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''cdc_control'') AND LOWER(table_name) = LOWER(''pgbench_branches__tombstones'') AND LOWER(column_name) = LOWER(''_cdc_seq'') AND NOT (LOWER(data_type) IN (''numeric'', ''decimal(38,0)'') AND numeric_precision = 38 AND numeric_scale = 0) LIMIT 1', 'CDC_DATA_ERROR: setup: table cdc_control.pgbench_branches__tombstones: column _cdc_seq was created before with another type than the config''s sequence_type = "number" (NUMERIC(38,0)); migrate the column, or set the table''s sequence_type to match it. It is ');

CREATE TABLE IF NOT EXISTS "public"."pgbench_tellers" ("tid" INTEGER, "bid" INTEGER, "tbalance" INTEGER, "filler" VARCHAR(336), "changets" TIMESTAMP NOT NULL, "ar_h_change_seq" NUMERIC(38,0), _cdc_full_load BOOLEAN NOT NULL) DISTKEY("tid") SORTKEY("tid");

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_tellers__progress" (file VARCHAR(1024) NOT NULL, kind CHAR(1) NOT NULL, partition_0 VARCHAR(8), row_count BIGINT NOT NULL, max_commit_ts TIMESTAMP, loaded_at TIMESTAMP NOT NULL, size BIGINT, version VARCHAR(128), modified TIMESTAMP);

CALL "cdc_control".cdc_assert_empty('SELECT CAST(c.n AS VARCHAR(16)) FROM (SELECT COUNT(*) AS n FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''cdc_control'') AND LOWER(table_name) = LOWER(''pgbench_tellers__progress'') AND LOWER(column_name) IN (''size'', ''version'', ''modified'')) c WHERE c.n < 3 LIMIT 1', 'CDC_DATA_ERROR: setup: table cdc_control.pgbench_tellers__progress was created by an older release, without the columns size, version and modified; run ALTER TABLE "cdc_control"."pgbench_tellers__progress" ADD COLUMN size BIGINT; ALTER TABLE "cdc_control"."pgbench_tellers__progress" ADD COLUMN version VARCHAR(128); ALTER TABLE "cdc_control"."pgbench_tellers__progress" ADD COLUMN modified TIMESTAMP (those missing); then run again. Columns found: ');

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_tellers__columns" (column_name VARCHAR(127) NOT NULL, column_type VARCHAR(64) NOT NULL, change VARCHAR(8) NOT NULL, ordinal INTEGER NOT NULL, first_file VARCHAR(1024) NOT NULL, added_at TIMESTAMP NOT NULL);

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_tellers__tombstones" ("tid" INTEGER NOT NULL, _cdc_ts TIMESTAMP NOT NULL, _cdc_seq NUMERIC(38,0));

CALL "cdc_control".cdc_assert_empty('SELECT CAST(data_type AS VARCHAR(128)) FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''public'') AND LOWER(table_name) = LOWER(''pgbench_tellers'') AND LOWER(column_name) = LOWER(''ar_h_change_seq'') AND NOT (LOWER(data_type) IN (''numeric'', ''decimal(38,0)'') AND numeric_precision = 38 AND numeric_scale = 0) LIMIT 1', 'CDC_DATA_ERROR: setup: table public.pgbench_tellers: column ar_h_change_seq was created before with another type than the config''s sequence_type = "number" (NUMERIC(38,0)); migrate the column, or set the table''s sequence_type to match it. It is ');

CALL "cdc_control".cdc_assert_empty('SELECT CAST(data_type AS VARCHAR(128)) FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''cdc_control'') AND LOWER(table_name) = LOWER(''pgbench_tellers__tombstones'') AND LOWER(column_name) = LOWER(''_cdc_seq'') AND NOT (LOWER(data_type) IN (''numeric'', ''decimal(38,0)'') AND numeric_precision = 38 AND numeric_scale = 0) LIMIT 1', 'CDC_DATA_ERROR: setup: table cdc_control.pgbench_tellers__tombstones: column _cdc_seq was created before with another type than the config''s sequence_type = "number" (NUMERIC(38,0)); migrate the column, or set the table''s sequence_type to match it. It is ');

CREATE TABLE IF NOT EXISTS "public"."pgbench_accounts" ("aid" INTEGER, "bid" INTEGER, "abalance" INTEGER, "filler" VARCHAR(336), "changets" TIMESTAMP NOT NULL, "ar_h_change_seq" NUMERIC(38,0), _cdc_full_load BOOLEAN NOT NULL) DISTKEY("aid") SORTKEY("aid");

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_accounts__progress" (file VARCHAR(1024) NOT NULL, kind CHAR(1) NOT NULL, partition_0 VARCHAR(8), row_count BIGINT NOT NULL, max_commit_ts TIMESTAMP, loaded_at TIMESTAMP NOT NULL, size BIGINT, version VARCHAR(128), modified TIMESTAMP);

CALL "cdc_control".cdc_assert_empty('SELECT CAST(c.n AS VARCHAR(16)) FROM (SELECT COUNT(*) AS n FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''cdc_control'') AND LOWER(table_name) = LOWER(''pgbench_accounts__progress'') AND LOWER(column_name) IN (''size'', ''version'', ''modified'')) c WHERE c.n < 3 LIMIT 1', 'CDC_DATA_ERROR: setup: table cdc_control.pgbench_accounts__progress was created by an older release, without the columns size, version and modified; run ALTER TABLE "cdc_control"."pgbench_accounts__progress" ADD COLUMN size BIGINT; ALTER TABLE "cdc_control"."pgbench_accounts__progress" ADD COLUMN version VARCHAR(128); ALTER TABLE "cdc_control"."pgbench_accounts__progress" ADD COLUMN modified TIMESTAMP (those missing); then run again. Columns found: ');

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_accounts__columns" (column_name VARCHAR(127) NOT NULL, column_type VARCHAR(64) NOT NULL, change VARCHAR(8) NOT NULL, ordinal INTEGER NOT NULL, first_file VARCHAR(1024) NOT NULL, added_at TIMESTAMP NOT NULL);

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_accounts__tombstones" ("aid" INTEGER NOT NULL, _cdc_ts TIMESTAMP NOT NULL, _cdc_seq NUMERIC(38,0));

CALL "cdc_control".cdc_assert_empty('SELECT CAST(data_type AS VARCHAR(128)) FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''public'') AND LOWER(table_name) = LOWER(''pgbench_accounts'') AND LOWER(column_name) = LOWER(''ar_h_change_seq'') AND NOT (LOWER(data_type) IN (''numeric'', ''decimal(38,0)'') AND numeric_precision = 38 AND numeric_scale = 0) LIMIT 1', 'CDC_DATA_ERROR: setup: table public.pgbench_accounts: column ar_h_change_seq was created before with another type than the config''s sequence_type = "number" (NUMERIC(38,0)); migrate the column, or set the table''s sequence_type to match it. It is ');

CALL "cdc_control".cdc_assert_empty('SELECT CAST(data_type AS VARCHAR(128)) FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''cdc_control'') AND LOWER(table_name) = LOWER(''pgbench_accounts__tombstones'') AND LOWER(column_name) = LOWER(''_cdc_seq'') AND NOT (LOWER(data_type) IN (''numeric'', ''decimal(38,0)'') AND numeric_precision = 38 AND numeric_scale = 0) LIMIT 1', 'CDC_DATA_ERROR: setup: table cdc_control.pgbench_accounts__tombstones: column _cdc_seq was created before with another type than the config''s sequence_type = "number" (NUMERIC(38,0)); migrate the column, or set the table''s sequence_type to match it. It is ');

CREATE TABLE IF NOT EXISTS "public"."pgbench_history" ("tid" INTEGER, "bid" INTEGER, "aid" INTEGER, "delta" INTEGER, "mtime" TIMESTAMP, "filler" VARCHAR(88), "changets" TIMESTAMP NOT NULL, "ar_h_change_seq" NUMERIC(38,0), _cdc_full_load BOOLEAN NOT NULL) DISTSTYLE AUTO SORTKEY("changets");

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_history__progress" (file VARCHAR(1024) NOT NULL, kind CHAR(1) NOT NULL, partition_0 VARCHAR(8), row_count BIGINT NOT NULL, max_commit_ts TIMESTAMP, loaded_at TIMESTAMP NOT NULL, size BIGINT, version VARCHAR(128), modified TIMESTAMP);

CALL "cdc_control".cdc_assert_empty('SELECT CAST(c.n AS VARCHAR(16)) FROM (SELECT COUNT(*) AS n FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''cdc_control'') AND LOWER(table_name) = LOWER(''pgbench_history__progress'') AND LOWER(column_name) IN (''size'', ''version'', ''modified'')) c WHERE c.n < 3 LIMIT 1', 'CDC_DATA_ERROR: setup: table cdc_control.pgbench_history__progress was created by an older release, without the columns size, version and modified; run ALTER TABLE "cdc_control"."pgbench_history__progress" ADD COLUMN size BIGINT; ALTER TABLE "cdc_control"."pgbench_history__progress" ADD COLUMN version VARCHAR(128); ALTER TABLE "cdc_control"."pgbench_history__progress" ADD COLUMN modified TIMESTAMP (those missing); then run again. Columns found: ');

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_history__columns" (column_name VARCHAR(127) NOT NULL, column_type VARCHAR(64) NOT NULL, change VARCHAR(8) NOT NULL, ordinal INTEGER NOT NULL, first_file VARCHAR(1024) NOT NULL, added_at TIMESTAMP NOT NULL);

CREATE TABLE IF NOT EXISTS "cdc_control"."pgbench_history__paired" ("tid" INTEGER, "bid" INTEGER, "aid" INTEGER, "delta" INTEGER, "mtime" TIMESTAMP, "filler" VARCHAR(88), _cdc_fp VARCHAR(32) NOT NULL, _cdc_ts TIMESTAMP NOT NULL, _cdc_seq NUMERIC(38,0));

CALL "cdc_control".cdc_assert_empty('SELECT CAST(data_type AS VARCHAR(128)) FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''public'') AND LOWER(table_name) = LOWER(''pgbench_history'') AND LOWER(column_name) = LOWER(''ar_h_change_seq'') AND NOT (LOWER(data_type) IN (''numeric'', ''decimal(38,0)'') AND numeric_precision = 38 AND numeric_scale = 0) LIMIT 1', 'CDC_DATA_ERROR: setup: table public.pgbench_history: column ar_h_change_seq was created before with another type than the config''s sequence_type = "number" (NUMERIC(38,0)); migrate the column, or set the table''s sequence_type to match it. It is ');

CREATE TABLE IF NOT EXISTS "public"."type_samples" ("k_text" VARCHAR(32), "k_int" INTEGER, "c_smallint" SMALLINT, "c_integer" INTEGER, "c_bigint" BIGINT, "c_real" REAL, "c_double" DOUBLE PRECISION, "c_boolean" BOOLEAN, "c_date" DATE, "c_timestamp" TIMESTAMP, "c_numeric" NUMERIC(18,4), "c_varchar" VARCHAR(24), "c_text" VARCHAR(65535), "c_char" VARCHAR(12), "changets" TIMESTAMP NOT NULL, "ar_h_change_seq" NUMERIC(38,0), _cdc_full_load BOOLEAN NOT NULL) DISTKEY("k_text") SORTKEY("k_text", "k_int");

CREATE TABLE IF NOT EXISTS "cdc_control"."type_samples__progress" (file VARCHAR(1024) NOT NULL, kind CHAR(1) NOT NULL, partition_0 VARCHAR(8), row_count BIGINT NOT NULL, max_commit_ts TIMESTAMP, loaded_at TIMESTAMP NOT NULL, size BIGINT, version VARCHAR(128), modified TIMESTAMP);

CALL "cdc_control".cdc_assert_empty('SELECT CAST(c.n AS VARCHAR(16)) FROM (SELECT COUNT(*) AS n FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''cdc_control'') AND LOWER(table_name) = LOWER(''type_samples__progress'') AND LOWER(column_name) IN (''size'', ''version'', ''modified'')) c WHERE c.n < 3 LIMIT 1', 'CDC_DATA_ERROR: setup: table cdc_control.type_samples__progress was created by an older release, without the columns size, version and modified; run ALTER TABLE "cdc_control"."type_samples__progress" ADD COLUMN size BIGINT; ALTER TABLE "cdc_control"."type_samples__progress" ADD COLUMN version VARCHAR(128); ALTER TABLE "cdc_control"."type_samples__progress" ADD COLUMN modified TIMESTAMP (those missing); then run again. Columns found: ');

CREATE TABLE IF NOT EXISTS "cdc_control"."type_samples__columns" (column_name VARCHAR(127) NOT NULL, column_type VARCHAR(64) NOT NULL, change VARCHAR(8) NOT NULL, ordinal INTEGER NOT NULL, first_file VARCHAR(1024) NOT NULL, added_at TIMESTAMP NOT NULL);

CREATE TABLE IF NOT EXISTS "cdc_control"."type_samples__tombstones" ("k_text" VARCHAR(32) NOT NULL, "k_int" INTEGER NOT NULL, _cdc_ts TIMESTAMP NOT NULL, _cdc_seq NUMERIC(38,0));

CALL "cdc_control".cdc_assert_empty('SELECT CAST(data_type AS VARCHAR(128)) FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''public'') AND LOWER(table_name) = LOWER(''type_samples'') AND LOWER(column_name) = LOWER(''ar_h_change_seq'') AND NOT (LOWER(data_type) IN (''numeric'', ''decimal(38,0)'') AND numeric_precision = 38 AND numeric_scale = 0) LIMIT 1', 'CDC_DATA_ERROR: setup: table public.type_samples: column ar_h_change_seq was created before with another type than the config''s sequence_type = "number" (NUMERIC(38,0)); migrate the column, or set the table''s sequence_type to match it. It is ');

CALL "cdc_control".cdc_assert_empty('SELECT CAST(data_type AS VARCHAR(128)) FROM information_schema.columns WHERE LOWER(table_schema) = LOWER(''cdc_control'') AND LOWER(table_name) = LOWER(''type_samples__tombstones'') AND LOWER(column_name) = LOWER(''_cdc_seq'') AND NOT (LOWER(data_type) IN (''numeric'', ''decimal(38,0)'') AND numeric_precision = 38 AND numeric_scale = 0) LIMIT 1', 'CDC_DATA_ERROR: setup: table cdc_control.type_samples__tombstones: column _cdc_seq was created before with another type than the config''s sequence_type = "number" (NUMERIC(38,0)); migrate the column, or set the table''s sequence_type to match it. It is ');

CREATE TABLE IF NOT EXISTS "public"."type_events" ("e_id" INTEGER, "c_smallint" SMALLINT, "c_integer" INTEGER, "c_bigint" BIGINT, "c_real" REAL, "c_double" DOUBLE PRECISION, "c_boolean" BOOLEAN, "c_date" DATE, "c_timestamp" TIMESTAMP, "c_numeric" NUMERIC(18,4), "c_varchar" VARCHAR(24), "c_text" VARCHAR(65535), "c_char" VARCHAR(12), "changets" TIMESTAMP NOT NULL, "ar_h_change_seq" NUMERIC(38,0), _cdc_full_load BOOLEAN NOT NULL) DISTSTYLE AUTO SORTKEY("changets");

CREATE TABLE IF NOT EXISTS "cdc_control"."type_events__progress" (file VARCHAR(1024) NOT NULL, kind CHAR(1) NOT NULL, partition_0 VARCHAR(8), row_count BIGINT NOT NULL, max_commit_ts TIMESTAMP, loaded_at TIMESTAMP NOT NULL, size BIGINT, version VARCHAR(128), modified TIMESTAMP);
