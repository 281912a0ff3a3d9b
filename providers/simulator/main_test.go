package simulator_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/providers/simulator"
	"github.com/llmgateway/llmgateway/routing"
)

// The interface guard lives in a test: providers never import routing.
var _ routing.Provider = (*simulator.Provider)(nil)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
