package postgres

import (
	"context"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// CurrentUser returns the role a connection of db's pool runs as.
func CurrentUser(ctx context.Context, db *DB) (string, error) {
	var user string
	err := db.pool.QueryRow(ctx, `SELECT current_user`).Scan(&user)
	return user, err
}

// Migrations returns the number of embedded migrations.
func Migrations() int {
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	return len(ms)
}

// MarkStale records holder as a lease of name this process could not
// release, as LockSession's unlock does when the database is away.
func MarkStale(db *DB, t tenant.ID, name, holder string) {
	db.leases.put(t.String()+"\x00"+name, holder)
}
