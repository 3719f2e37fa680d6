-- input: orders
-- check: hand: ts - ts is int64 microseconds here (PostgreSQL interval, DuckDB interval); values checked by hand
SELECT id, ts - TIMESTAMP '2024-03-09 00:00:00' AS micros FROM orders WHERE id <= 10
