REFRESH MATERIALIZED VIEW "public"."weekly_account_change_summary";
