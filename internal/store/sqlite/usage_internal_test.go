package sqlite

import (
	"strings"
	"testing"
)

// TestUsageQueryPlans checks that the usage queries read one tenant's rows
// through an index, in the order they return them, with no sort.
func TestUsageQueryPlans(t *testing.T) {
	db, _ := openTestDB(t)
	tests := []struct {
		name  string
		query string
		args  []any
		want  string
	}{
		{"records", usageRecords, []any{"acme", 0, 1, "", "", 10}, "USING INDEX usage_tenant_ts (tenant=? AND ts>? AND ts<?)"},
		{"rollup", usageRollup, []any{"acme", "", "~", "", ""}, "USING PRIMARY KEY (tenant=? AND day>? AND day<?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := db.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(plan, "; ")
			if !strings.Contains(got, tt.want) || strings.Contains(got, "TEMP B-TREE") || strings.Contains(got, "SCAN") {
				t.Errorf("query plan = %q, want %q without a scan or a sort", got, tt.want)
			}
		})
	}
}
