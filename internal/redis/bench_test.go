package redis_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/redis"
)

// BenchmarkLimitsAllow measures one admission against Redis, with one
// limit (an IP) and with three (tenant, key and IP in one script), each
// call after the last ("serial", which reports the latency's p50 and p99)
// and from many goroutines at once ("parallel", throughput).
func BenchmarkLimitsAllow(b *testing.B) {
	for _, rules := range []int{1, 3} {
		b.Run(fmt.Sprintf("%d limits/serial", rules), func(b *testing.B) {
			s := redis.NewLimits(openDB(b, redis.Options{}), redis.LimitsOptions{})
			reqs := benchRequests(rules)
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				setKeys(reqs, i)
				start := time.Now()
				if _, err := s.Allow(context.Background(), acme, start, reqs); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportLatency(b, lat)
		})
		b.Run(fmt.Sprintf("%d limits/parallel", rules), func(b *testing.B) {
			s := redis.NewLimits(openDB(b, redis.Options{}), redis.LimitsOptions{})
			var seq atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				reqs := benchRequests(rules)
				first := int(seq.Add(1)) * 1024
				for i := 0; pb.Next(); i++ {
					setKeys(reqs, first+i%1024)
					if _, err := s.Allow(context.Background(), acme, time.Now(), reqs); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// benchRequests returns rules requests with limits generous enough that
// they are admitted.
func benchRequests(rules int) []ratelimit.Request {
	l := ratelimit.Limit{Requests: 1_000_000_000, Per: time.Second, Burst: 1_000_000}
	reqs := make([]ratelimit.Request, rules)
	for i := range reqs {
		reqs[i].Limit = l
	}
	return reqs
}

// setKeys names the buckets of client c: its IP, or the tenant, its key and
// its IP.
func setKeys(reqs []ratelimit.Request, c int) {
	c %= 64 * 1024
	ip := fmt.Sprintf("ip:10.%d.%d.%d", c>>16, (c>>8)&255, c&255)
	if len(reqs) == 1 {
		reqs[0].Key = ip
		return
	}
	reqs[0].Key = "tenant"
	reqs[1].Key = fmt.Sprintf("key:k_%d", c%256)
	reqs[2].Key = ip
}

// reportLatency reports the median and 99th percentile of lat.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(int(p*float64(len(lat))), len(lat)-1)]) / float64(time.Microsecond)
	}
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}
