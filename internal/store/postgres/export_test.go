package postgres

import "context"

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
