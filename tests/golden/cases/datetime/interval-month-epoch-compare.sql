-- input: months
-- check: duckdb
SELECT id, extract(epoch FROM INTERVAL '1 year 1 month') AS e1, extract(epoch FROM n * INTERVAL '1' MONTH) AS e2, INTERVAL '1' MONTH > INTERVAL '29 days' AS gt, INTERVAL '1' MONTH = INTERVAL '30 days' AS eq, -INTERVAL '1' MONTH + ts AS back FROM months
