-- input: months
-- check: duckdb
SELECT id, ts + INTERVAL '1' MONTH AS next_month, ts - INTERVAL '1' MONTH AS prev_month, ts + INTERVAL '1' YEAR AS next_year FROM months
