-- input: orders
-- check: hand: from_unixtime is the Trino/MySQL name; DuckDB lacks it; values checked by hand
SELECT id, from_unixtime(1700000000 + id) AS t FROM orders WHERE id <= 5
