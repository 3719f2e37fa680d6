-- input: orders
-- check: hand: mask_email is an engine function DuckDB lacks; the group keys are the masked values
SELECT mask_email(email) AS m, count(*) AS n FROM orders GROUP BY mask_email(email)
