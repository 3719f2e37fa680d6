-- input: bad
-- check: hand: only the decodable lines are aggregated; the others are dead letters
SELECT count(*) AS n, sum(amount) AS s FROM bad
