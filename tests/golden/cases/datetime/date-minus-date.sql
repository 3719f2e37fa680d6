-- input: orders
-- check: hand: date - date is int32 days (PostgreSQL integer); DuckDB returns bigint, same values; checked by hand for the type
SELECT id, day - DATE '2024-03-01' AS days FROM orders WHERE id <= 12
