package gateway

import "github.com/crispy-enigma/crispy/internal/tenant"

// modelPrice is a price in micro-dollars per token, which is the same number
// as dollars per million tokens.
type modelPrice struct{ in, out float64 }

// price returns the tenant's price of ref; unpriced models are free.
func price(cfg *tenant.Config, ref string) modelPrice {
	p, ok := cfg.Models.Pricing[ref]
	if !ok {
		return modelPrice{}
	}
	return modelPrice{in: p.InputPerMTok, out: p.OutputPerMTok}
}

// cost returns the cost of a call in micro-dollars, rounded up so that a
// priced call is never free.
func (p modelPrice) cost(in, out int64) int64 {
	c := float64(in)*p.in + float64(out)*p.out
	n := int64(c)
	if float64(n) < c {
		n++
	}
	return n
}
