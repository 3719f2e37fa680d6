-- input: orders
-- check: hand: mask_email is an engine function DuckDB lacks
SELECT id, email, mask_email(email) AS m FROM orders
