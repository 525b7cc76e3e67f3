package gateway_test

import (
	"testing"

	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/gateway/budgettest"
)

func TestMemoryBudgets(t *testing.T) {
	budgettest.TestStore(t, func(t *testing.T) gateway.BudgetStore {
		return gateway.NewMemoryBudgets()
	})
}
