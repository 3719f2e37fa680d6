-- input: orders
-- check: duckdb
SELECT sum(CASE WHEN paid THEN 1 ELSE 0 END) AS paid_n, count(CASE WHEN qty < 0 THEN 1 END) AS negatives FROM orders
