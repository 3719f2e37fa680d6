SELECT id, key, ts FROM late WHERE v > 2
