-- input: orders
-- check: hand: mask_phone is an engine function DuckDB lacks
SELECT id, phone, mask_phone(phone) AS m FROM orders
