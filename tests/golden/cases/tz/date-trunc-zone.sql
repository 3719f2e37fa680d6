-- input: tz
-- check: hand: date_trunc with a zone argument (PostgreSQL 12+): local midnight of the zone as an instant; DuckDB has no 3-argument form; DST days checked by hand
SELECT id, date_trunc('day', ts, 'Europe/Paris') AS d, date_trunc('hour', ts, 'Asia/Kolkata') AS h FROM tz
