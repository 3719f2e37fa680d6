-- input: orders
-- check: duckdb
SELECT id, -- the key
       amount /* the value */
FROM orders
WHERE qty > 0 -- positive only
