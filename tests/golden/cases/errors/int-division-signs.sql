-- input: nums
-- check: hand: integer division truncates toward zero: -7 / 2 = -3 (PostgreSQL); DuckDB's / gives -3.5
SELECT id, a, b, a / b AS q, a % b AS r FROM nums WHERE b <> 0 AND a > -100 AND a < 100
