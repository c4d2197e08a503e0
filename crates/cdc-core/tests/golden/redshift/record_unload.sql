DELETE FROM "cdc_control"."unloaded_days" WHERE table_name = 'pgbench_branches' AND changedate = '20261101';

INSERT INTO "cdc_control"."unloaded_days" VALUES ('pgbench_branches', '20261101', GETDATE(), 1234, 1, 56789, 288, 1000000, CAST('2026-11-02 00:05:00.000000' AS TIMESTAMP));
