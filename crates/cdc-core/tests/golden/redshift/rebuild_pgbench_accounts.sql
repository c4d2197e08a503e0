LOCK "cdc_control"."pgbench_accounts__progress";

CREATE TEMP TABLE cdc_files (file VARCHAR(1024), kind CHAR(1), partition_0 VARCHAR(8), file_no INTEGER, size BIGINT, version VARCHAR(128), modified TIMESTAMP);

INSERT INTO cdc_files (file, kind, partition_0, file_no, size, version, modified) VALUES ('s3://raw-bucket/cdc/public/pgbench_accounts/20261101/20261101-235900123.parquet', 'C', '20261101', 0, 1000, '', CAST('2026-11-02 00:05:00.000000' AS TIMESTAMP)), ('s3://raw-bucket/cdc/public/pgbench_accounts/20261102/20261102-000100456.parquet', 'C', '20261102', 1, 1000, '', CAST('2026-11-02 00:05:00.000000' AS TIMESTAMP)), ('s3://raw-bucket/full/public/pgbench_accounts/LOAD00000001.parquet', 'F', NULL, 2, 1000, '', CAST('2026-11-02 00:05:00.000000' AS TIMESTAMP)), ('s3://raw-bucket/full/public/pgbench_accounts/LOAD00000002.parquet', 'S', NULL, 3, 1000, '', CAST('2026-11-02 00:05:00.000000' AS TIMESTAMP));

CREATE TEMP TABLE cdc_rebuild AS SELECT COUNT(*) AS done FROM "cdc_control"."pgbench_accounts__progress" WHERE kind = 'R' AND file = 'rebuild 2026-11-01T23:55:00.000000 from 1 files 6a00c1d7367dae6e';

DELETE FROM cdc_files WHERE NOT EXISTS (SELECT 1 FROM cdc_rebuild WHERE done = 0);

CREATE TEMP TABLE cdc_batch AS SELECT CAST(r."aid" AS INTEGER) AS "aid", CAST(r."bid" AS INTEGER) AS "bid", CAST(r."abalance" AS INTEGER) AS "abalance", CAST(r."filler" AS VARCHAR(65535)) AS "filler", CAST(r."changets" AS TIMESTAMP) AS _cdc_ts, CAST(CASE WHEN r."ar_h_change_seq" ~ '^[0-9]{1,38}$' THEN CAST(r."ar_h_change_seq" AS NUMERIC(38,0)) WHEN r."ar_h_change_seq" IS NOT NULL THEN -1 END AS NUMERIC(38,0)) AS _cdc_seq, CASE WHEN OCTET_LENGTH(r."op") = 1 THEN CASE r."op" WHEN 'D' THEN TRUE WHEN 'I' THEN FALSE WHEN 'U' THEN FALSE END END AS _cdc_delete, 1 AS _cdc_rank, f.file_no AS _cdc_file_no FROM "cdc_database"."raw_cdc_pgbench_accounts" r JOIN cdc_files f ON r."$path" = f.file AND OCTET_LENGTH(r."$path") = OCTET_LENGTH(f.file) AND f.kind = 'C' AND r."partition_0" IN ('20261101', '20261102') UNION ALL SELECT CAST(r."aid" AS INTEGER) AS "aid", CAST(r."bid" AS INTEGER) AS "bid", CAST(r."abalance" AS INTEGER) AS "abalance", CAST(r."filler" AS VARCHAR(65535)) AS "filler", CAST(r."changets" AS TIMESTAMP) AS _cdc_ts, CAST(NULL AS NUMERIC(38,0)) AS _cdc_seq, FALSE AS _cdc_delete, 0 AS _cdc_rank, f.file_no AS _cdc_file_no FROM "cdc_database"."raw_full_pgbench_accounts" r JOIN cdc_files f ON r."$path" = f.file AND OCTET_LENGTH(r."$path") = OCTET_LENGTH(f.file) AND f.kind = 'F';

CALL "cdc_control".cdc_assert_empty('SELECT ''CDC_WIDEN('' || COALESCE(''filler='' || CAST(m.w0 AS VARCHAR(12)) || '','', '''') || '')'' FROM (SELECT MAX(CASE WHEN OCTET_LENGTH(b."filler") > 84 AND LEN(b."filler") > 84 THEN LEN(b."filler") END) AS w0 FROM cdc_batch b) m WHERE m.w0 IS NOT NULL LIMIT 1', 'CDC_DATA_ERROR: table public.pgbench_accounts: text longer than its column (the source widened it): ');

CALL "cdc_control".cdc_assert_empty('SELECT CASE WHEN b._cdc_delete IS NULL THEN ''unknown Op (expected I, U or D)'' WHEN b._cdc_ts IS NULL THEN ''null commit timestamp column changets'' WHEN b._cdc_ts > DATEADD(second, 86400, GETDATE()) THEN ''commit timestamp column changets holds '' || CAST(b._cdc_ts AS VARCHAR(64)) || '', more than 86400 s after the warehouse clock (pipeline.future_timestamp_bound)'' WHEN b."aid" IS NULL THEN ''null key (aid)'' WHEN b._cdc_rank = 1 AND b._cdc_seq IS NULL THEN ''null change sequence column ar_h_change_seq'' WHEN b._cdc_seq < 0 THEN ''change sequence column ar_h_change_seq holds a value that is not a whole number of at most 38 digits (set sequence_type = "text" to compare it as text)'' END || '' in file '' || f.file FROM cdc_batch b JOIN cdc_files f ON f.file_no = b._cdc_file_no WHERE (b._cdc_delete IS NULL) OR (b._cdc_ts IS NULL) OR (b._cdc_ts > DATEADD(second, 86400, GETDATE())) OR (b."aid" IS NULL) OR (b._cdc_rank = 1 AND b._cdc_seq IS NULL) OR (b._cdc_seq < 0) LIMIT 1', 'CDC_DATA_ERROR: table public.pgbench_accounts: ');

CREATE TEMP TABLE cdc_prior_keys AS SELECT "aid" FROM "public"."pgbench_accounts" WHERE EXISTS (SELECT 1 FROM cdc_rebuild WHERE done = 0);

CREATE TEMP TABLE cdc_prior_tombstones AS SELECT * FROM "cdc_control"."pgbench_accounts__tombstones" WHERE EXISTS (SELECT 1 FROM cdc_rebuild WHERE done = 0);

DELETE FROM "public"."pgbench_accounts" WHERE EXISTS (SELECT 1 FROM cdc_rebuild WHERE done = 0);

DELETE FROM "cdc_control"."pgbench_accounts__tombstones" WHERE EXISTS (SELECT 1 FROM cdc_rebuild WHERE done = 0);

DELETE FROM "cdc_control"."pgbench_accounts__progress" WHERE kind IN ('F', 'S') AND EXISTS (SELECT 1 FROM cdc_rebuild WHERE done = 0);

INSERT INTO "cdc_control"."pgbench_accounts__progress" (file, kind, partition_0, row_count, max_commit_ts, loaded_at, size, version, modified) SELECT f.file, f.kind, f.partition_0, COALESCE(b.n, 0), b.max_ts, GETDATE(), f.size, f.version, f.modified FROM cdc_files f LEFT JOIN (SELECT _cdc_file_no, COUNT(*) AS n, MAX(_cdc_ts) AS max_ts FROM cdc_batch GROUP BY _cdc_file_no) b ON b._cdc_file_no = f.file_no WHERE NOT EXISTS (SELECT 1 FROM "cdc_control"."pgbench_accounts__progress" q WHERE q.file = f.file AND OCTET_LENGTH(q.file) = OCTET_LENGTH(f.file));

DELETE FROM cdc_batch WHERE _cdc_rank = 1 AND _cdc_ts < CAST('2026-11-01 23:55:00.000000' AS TIMESTAMP);

CREATE TEMP TABLE cdc_latest AS SELECT x."aid", x."bid", x."abalance", x."filler", x._cdc_ts, x._cdc_seq, x._cdc_delete, x._cdc_rank, x._cdc_file_no, CASE WHEN x._cdc_rank = 1 THEN x._cdc_ts ELSE CAST('0001-01-01 00:00:00' AS TIMESTAMP) END AS _cdc_rival_ts FROM (SELECT * FROM (SELECT b.*, ROW_NUMBER() OVER (PARTITION BY "aid" ORDER BY _cdc_rank DESC, _cdc_ts DESC, COALESCE(_cdc_seq, -1) DESC, _cdc_file_no DESC) AS _cdc_rn FROM cdc_batch b) n WHERE _cdc_rn = 1) x;

DELETE FROM cdc_latest USING "cdc_control"."pgbench_accounts__tombstones" d WHERE d."aid" = cdc_latest."aid" AND NOT (cdc_latest._cdc_rank > 1 OR (cdc_latest._cdc_rank = 1 AND (cdc_latest._cdc_ts > d._cdc_ts OR (cdc_latest._cdc_ts = d._cdc_ts AND COALESCE(cdc_latest._cdc_seq, -1) > COALESCE(d._cdc_seq, -1)))));

DELETE FROM cdc_latest USING "public"."pgbench_accounts" t WHERE t."aid" = cdc_latest."aid" AND t."changets" >= cdc_latest._cdc_rival_ts AND NOT (cdc_latest._cdc_rank > (CASE WHEN t._cdc_full_load THEN 0 ELSE 1 END) OR (cdc_latest._cdc_rank = (CASE WHEN t._cdc_full_load THEN 0 ELSE 1 END) AND (cdc_latest._cdc_ts > t."changets" OR (cdc_latest._cdc_ts = t."changets" AND COALESCE(cdc_latest._cdc_seq, -1) > COALESCE(t."ar_h_change_seq", -1)))));

DELETE FROM "public"."pgbench_accounts" USING cdc_latest l WHERE "pgbench_accounts"."aid" = l."aid";

INSERT INTO "public"."pgbench_accounts" ("aid", "bid", "abalance", "filler", "changets", "ar_h_change_seq", _cdc_full_load) SELECT "aid", "bid", "abalance", "filler", _cdc_ts, _cdc_seq, _cdc_rank = 0 FROM cdc_latest WHERE NOT _cdc_delete;

DELETE FROM "cdc_control"."pgbench_accounts__tombstones" USING cdc_latest l WHERE "pgbench_accounts__tombstones"."aid" = l."aid";

INSERT INTO "cdc_control"."pgbench_accounts__tombstones" ("aid", _cdc_ts, _cdc_seq) SELECT "aid", _cdc_ts, _cdc_seq FROM cdc_latest WHERE _cdc_delete;

DELETE FROM "cdc_control"."pgbench_accounts__tombstones" WHERE _cdc_ts < (SELECT DATEADD(second, -172800, MAX(_cdc_ts)) FROM cdc_batch WHERE _cdc_rank = 1);

INSERT INTO "cdc_control"."pgbench_accounts__tombstones" ("aid", _cdc_ts, _cdc_seq) SELECT o."aid", o._cdc_ts, o._cdc_seq FROM cdc_prior_tombstones o WHERE NOT EXISTS (SELECT 1 FROM "public"."pgbench_accounts" t WHERE t."aid" = o."aid") AND NOT EXISTS (SELECT 1 FROM "cdc_control"."pgbench_accounts__tombstones" d WHERE d."aid" = o."aid");

INSERT INTO "cdc_control"."pgbench_accounts__tombstones" ("aid", _cdc_ts, _cdc_seq) SELECT o."aid", CAST('2026-11-01 23:55:00.000000' AS TIMESTAMP), CAST(NULL AS NUMERIC(38,0)) FROM cdc_prior_keys o WHERE NOT EXISTS (SELECT 1 FROM "public"."pgbench_accounts" t WHERE t."aid" = o."aid") AND NOT EXISTS (SELECT 1 FROM "cdc_control"."pgbench_accounts__tombstones" d WHERE d."aid" = o."aid");

INSERT INTO "cdc_control"."pgbench_accounts__progress" (file, kind, partition_0, row_count, max_commit_ts, loaded_at) SELECT 'rebuild 2026-11-01T23:55:00.000000 from 1 files 6a00c1d7367dae6e', 'R', NULL, (SELECT COUNT(*) FROM cdc_batch), CAST('2026-11-01 23:55:00.000000' AS TIMESTAMP), GETDATE() FROM cdc_rebuild WHERE done = 0;

SELECT x.*, 'rebuild 2026-11-01T23:55:00.000000 from 1 files 6a00c1d7367dae6e' AS rebuild FROM (SELECT (SELECT COUNT(*) FROM cdc_files) AS files, p.changes, a.upserts, a.deletes, p.max_commit_ts FROM (SELECT CAST(COALESCE(SUM(row_count), 0) AS BIGINT) AS changes, MAX(CASE WHEN kind = 'C' THEN max_commit_ts END) AS max_commit_ts FROM "cdc_control"."pgbench_accounts__progress" WHERE file IN (SELECT file FROM cdc_files)) p, (SELECT CAST(COALESCE(SUM(CASE WHEN _cdc_delete THEN 0 ELSE 1 END), 0) AS BIGINT) AS upserts, CAST(COALESCE(SUM(CASE WHEN _cdc_delete THEN 1 ELSE 0 END), 0) AS BIGINT) AS deletes FROM cdc_latest) a) x;
