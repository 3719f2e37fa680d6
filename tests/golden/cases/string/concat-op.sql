-- input: orders
-- check: duckdb
SELECT id, name || '!' AS shout, 'n=' || name AS tagged, status || '-' || id AS mixed FROM orders
