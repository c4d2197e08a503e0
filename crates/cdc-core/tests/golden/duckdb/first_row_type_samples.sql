SELECT MIN(CAST(r."changets" AS TIMESTAMP)) AS first_row FROM read_parquet(['s3://raw-bucket/full/public/type_samples/LOAD00000001.parquet']) r;
