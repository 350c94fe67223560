package samples

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"marquee/ingest/feedgen"
)

//go:generate go run generate.go

// fixtureSeed selects the generated fixtures' performers: a seed whose
// first items have thumbnails and aliases, whose first performer keeps its
// image host in the generation after Head, and whose Older holds Head's
// first 8 ids.
const fixtureSeed = 16

// generated is every fixture that feedgen writes, with its options: the
// same bytes as `marquee dev gen-feed` with the matching flags. Quirks is
// written by hand and is not among them.
var generated = []struct {
	Sample  Sample
	Options feedgen.Options
}{
	{Head, feedgen.Options{Items: 100, Seed: fixtureSeed, Generation: 1, ChangeRatio: 1}},
	{Older, feedgen.Options{Items: 100, Seed: fixtureSeed, ImageBase: "https://di.phncdn.com/pics/pornstars", Head: 8}},
	{BareArray, feedgen.Options{Items: 100, Seed: fixtureSeed, Generation: 2, ChangeRatio: 1, Head: 1, BareArray: true}},
}

// generate returns the bytes of every generated fixture, by file name.
func generate() (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, g := range generated {
		var buf bytes.Buffer
		if err := feedgen.Write(&buf, g.Options); err != nil {
			return nil, fmt.Errorf("samples: generate %s: %w", g.Sample.Name, err)
		}
		files[g.Sample.Name] = buf.Bytes()
	}
	return files, nil
}

// WriteGenerated writes every generated fixture into the repository's
// fixture directory.
func WriteGenerated() error {
	root, err := repositoryRoot()
	if err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	files, err := generate()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, FixtureDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("samples: %w", err)
		}
	}
	return nil
}
