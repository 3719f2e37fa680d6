-- input: months
-- check: duckdb
SELECT id, ts FROM months WHERE ts + INTERVAL '1' MONTH >= CAST('2024-03-01' AS timestamp) AND ts < CAST('2024-03-01' AS timestamp) + INTERVAL '1 year'
