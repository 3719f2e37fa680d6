-- input: orders
-- check: hand: upper('ß') stays ß (PostgreSQL); DuckDB gives ẞ
SELECT upper('straße') AS u, lower('ÀÉÎ') AS l, length('👍🏽') AS n FROM orders WHERE id = 1
