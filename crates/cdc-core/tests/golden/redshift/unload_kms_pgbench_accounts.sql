UNLOAD ('SELECT "op", CAST("changets" AS TIMESTAMP) AS "changets", "ar_h_change_seq", "aid", "bid", "abalance", "filler" FROM "cdc_database"."raw_cdc_pgbench_accounts" WHERE partition_0 = ''20261101'' AND "$path" LIKE ''%/20261101-%.parquet'' ORDER BY "aid", "changets", "ar_h_change_seq"') TO 's3://optimized-bucket/cdc/pgbench_accounts/changedate=20261101/' IAM_ROLE default KMS_KEY_ID 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' ENCRYPTED FORMAT AS PARQUET PARALLEL OFF MAXFILESIZE 192 MB CLEANPATH;

SELECT pg_last_unload_count() AS row_count;
