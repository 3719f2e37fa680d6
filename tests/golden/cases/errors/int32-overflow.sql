-- input: nums
-- check: hand: int32 + int32 stays int32 (PostgreSQL int4) and overflows per row; DuckDB fails the query
SELECT id, i + i AS d, i * 2 AS e FROM nums
