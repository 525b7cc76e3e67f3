package store

import (
	"testing"
	"time"
)

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
			if got := MilliBound(tt.t, -42); got != tt.want {
				t.Errorf("MilliBound(%v) = %d, want %d", tt.t, got, tt.want)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		ttl  time.Duration
		want int64
	}{
		{"whole milliseconds", base, 150 * time.Millisecond, base.UnixMilli() + 150},
		{"sub-millisecond ttl rounds up", base, time.Nanosecond, base.UnixMilli() + 1},
		{"sub-millisecond now rounds up", base.Add(1500 * time.Microsecond), time.Millisecond, base.UnixMilli() + 3},
		{"before 1970", time.UnixMilli(-1000).Add(-time.Microsecond), time.Millisecond, -999},
		{"largest ttl", base, time.Duration(1<<63 - 1), base.Add(time.Duration(1<<63-1)).UnixMilli() + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Expiry(tt.now, tt.ttl); got != tt.want {
				t.Errorf("Expiry(%v, %v) = %d, want %d", tt.now, tt.ttl, got, tt.want)
			}
		})
	}
}
