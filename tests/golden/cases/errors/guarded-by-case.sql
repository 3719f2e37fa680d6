-- input: nums
-- check: hand: integer division (PostgreSQL); CASE keeps the division from rows with b = 0, so nothing is dead-lettered
SELECT id, CASE WHEN b = 0 THEN NULL ELSE a / b END AS q FROM nums WHERE a > -100 AND a < 100
