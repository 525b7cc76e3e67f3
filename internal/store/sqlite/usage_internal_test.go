package sqlite

import (
	"strings"
	"testing"
	"time"
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

func TestDay(t *testing.T) {
	times := []time.Time{
		time.Unix(0, 0),
		time.UnixMilli(-1),
		time.UnixMilli(msPerDay - 1),
		time.UnixMilli(msPerDay),
		time.UnixMilli(-msPerDay),
		time.UnixMilli(-msPerDay - 1),
		{}, // 0001-01-01
		time.Date(2026, 3, 1, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2026, 3, 2, 0, 30, 0, 0, time.FixedZone("", 3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
	}
	for _, at := range times {
		want := at.UTC().Format("2006-01-02")
		if got := dayOf(dayNumber(at.UnixMilli())); got != want {
			t.Errorf("day of %v = %q, want %q", at, got, want)
		}
	}
}

func TestMilliBound(t *testing.T) {
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		t    time.Time
		want int64
	}{
		{"zero", time.Time{}, -42},
		{"whole millisecond", base, base.UnixMilli()},
		{"rounds up", base.Add(time.Nanosecond), base.UnixMilli() + 1},
		{"rounds up below 1970", time.UnixMilli(-1000).Add(-time.Microsecond), -1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := milliBound(tt.t, -42); got != tt.want {
				t.Errorf("milliBound(%v) = %d, want %d", tt.t, got, tt.want)
			}
		})
	}
}
