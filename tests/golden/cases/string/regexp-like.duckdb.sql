SELECT id, name FROM orders WHERE regexp_matches(name, '^[a-z]+$')
