UNLOAD ('SELECT "op", "changets", "ar_h_change_seq", "e_id", "c_smallint", "c_integer", "c_bigint", "c_real", "c_double", "c_boolean", "c_date", "c_timestamp", "c_numeric", "c_varchar", "c_text", "c_char" FROM "cdc_database"."raw_cdc_type_events" WHERE partition_0 = ''20261101'' AND "$path" LIKE ''%/20261101-%.parquet'' ORDER BY "changets", "ar_h_change_seq"') TO 's3://optimized-bucket/cdc/type_events/changedate=20261101/' IAM_ROLE 'arn:aws:iam::123456789012:role/cdc-unload' FORMAT AS PARQUET PARALLEL OFF MAXFILESIZE 192 MB CLEANPATH;

SELECT pg_last_unload_count() AS row_count;
