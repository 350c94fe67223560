//go:build ignore

// Command generate writes the generated fixtures under testdata/feeds
// (`go generate ./internal/samples`).
package main

import (
	"fmt"
	"os"

	"marquee/internal/samples"
)

func main() {
	if err := samples.WriteGenerated(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
