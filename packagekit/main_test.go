package packagekit

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: the Client's
// dispatcher, the goroutines of Run, godbus' readers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
