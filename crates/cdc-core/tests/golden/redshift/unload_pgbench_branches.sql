UNLOAD ('SELECT "op", CAST("changets" AS TIMESTAMP) AS "changets", "ar_h_change_seq", "bid", "bbalance", "filler" FROM "cdc_database"."raw_cdc_pgbench_branches" WHERE partition_0 = ''20261101'' AND "$path" LIKE ''%/20261101-%.parquet'' ORDER BY "bid", "changets", "ar_h_change_seq"') TO 's3://optimized-bucket/cdc/pgbench_branches/changedate=20261101/' IAM_ROLE 'arn:aws:iam::123456789012:role/cdc-unload' FORMAT AS PARQUET PARALLEL OFF MAXFILESIZE 192 MB CLEANPATH;

SELECT pg_last_unload_count() AS row_count;
