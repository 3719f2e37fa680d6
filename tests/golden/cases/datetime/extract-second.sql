-- input: orders
-- check: hand: extract(second) keeps the fraction (PostgreSQL); DuckDB returns whole seconds
SELECT id, ts, extract(second FROM ts) AS s, extract(epoch FROM ts) AS e FROM orders WHERE id <= 10
