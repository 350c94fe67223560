package rest

import (
	"strings"
	"testing"
)

// TestZContractCoverage fails when some documented response of some
// operation was never produced by the suite: the document promises it, so a
// test must show it. It must run after every other test, hence this file's
// name and the test's: go test runs top-level tests in file and source
// order, and no top-level test here is parallel (only subtests are, and a
// test ends after its subtests). It checks only full runs (no -run, -skip,
// -short).
func TestZContractCoverage(t *testing.T) {
	if !fullRun() {
		t.Skip("a partial run (-run, -skip or -short) does not exercise every response")
	}
	if missing := contract().missing(); len(missing) > 0 {
		t.Errorf("documented responses no test produced:\n  %s", strings.Join(missing, "\n  "))
	}
}
