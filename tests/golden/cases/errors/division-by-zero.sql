-- input: nums
-- check: hand: integer division truncates and / 0 is a row error (PostgreSQL); DuckDB's / gives a float
SELECT id, a / b AS q, a % b AS r FROM nums
