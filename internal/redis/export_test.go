package redis

// KeyOf returns db's key of name in tenant t, for tests.
func KeyOf(db *DB, t, name string) string { return db.key(t, name) }

// PrefixOf returns db's key prefix, for tests.
func PrefixOf(db *DB) string { return db.prefix }
