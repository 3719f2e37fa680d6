-- input: orders
-- check: duckdb
SELECT count(*) AS n, count(customer) AS c, count(amount) AS a, count(ts) AS t FROM orders
