-- input: bad
-- check: hand: malformed input lines go to the dead letters with raw bytes and line numbers (decoding contract)
SELECT id, amount, name FROM bad
