-- input: orders
-- check: duckdb
SELECT id, CASE status WHEN 'paid' THEN 1 WHEN 'open' THEN 2 END AS code FROM orders
