package incus

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: exec's
// stream pumps, the event reader, the fake server's handlers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
