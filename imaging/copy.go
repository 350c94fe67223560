package imaging

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sync"
)

// CopyOptions configure CopyObjects.
type CopyOptions struct {
	// Resume finishes a copy that was cut off: objects the destination has
	// with the source's size are kept. Without it the destination must hold
	// no object.
	Resume bool
	// Workers bounds the objects copied at once. Default 8: object storage
	// answers each request in milliseconds, and a few in flight hide that.
	Workers int
	// Progress, if set, is called after each object copied or skipped.
	Progress func(CopyReport)
}

// CopyReport counts what CopyObjects did.
type CopyReport struct {
	// Copied and CopiedBytes count the objects written to the destination.
	Copied      int
	CopiedBytes int64
	// Skipped and SkippedBytes count those it had already (Resume).
	Skipped      int
	SkippedBytes int64
}

// ErrDestinationNotEmpty: CopyObjects without Resume found objects in the
// destination.
var ErrDestinationNotEmpty = errors.New("imaging: the destination store holds objects")

// CopyObjects copies every object of from into to, under the same keys:
// originals, variants and anything parked by a garbage collection, so a
// store moves between a directory and a bucket as it is. Objects that carry
// no media type (a directory keeps none) get the one their bytes show.
// Each object is written whole or not at all, so a copy cut off at any
// point is finished by running it again with Resume. Writers should be
// stopped meanwhile; bytes added after an object was listed are left for
// the next run.
func CopyObjects(ctx context.Context, from, to ObjectStore, opts CopyOptions) (CopyReport, error) {
	var report CopyReport
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if !opts.Resume {
		err := to.List(ctx, "", func(ObjectInfo) error { return ErrDestinationNotEmpty })
		if err != nil {
			return report, err
		}
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		work     = make(chan ObjectInfo)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	for range opts.Workers {
		wg.Go(func() {
			for info := range work {
				copied, err := copyObject(ctx, from, to, info, opts.Resume)
				if err != nil {
					fail(err)
					continue
				}
				mu.Lock()
				if copied {
					report.Copied++
					report.CopiedBytes += info.Size
				} else {
					report.Skipped++
					report.SkippedBytes += info.Size
				}
				if opts.Progress != nil {
					opts.Progress(report)
				}
				mu.Unlock()
			}
		})
	}
	listErr := from.List(ctx, "", func(info ObjectInfo) error {
		select {
		case work <- info:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	wg.Wait()
	if firstErr != nil {
		return report, firstErr
	}
	if listErr != nil {
		return report, fmt.Errorf("imaging: copy from %s: %w", from, listErr)
	}
	return report, nil
}

// copyObject copies one object unless resume finds it in to already.
func copyObject(ctx context.Context, from, to ObjectStore, info ObjectInfo, resume bool) (copied bool, err error) {
	if resume {
		have, err := to.Stat(ctx, info.Key)
		if err == nil && have.Size == info.Size {
			return false, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("imaging: copy %s: %w", info.Key, err)
		}
	}
	src, err := from.Open(ctx, info.Key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // deleted since it was listed: nothing to copy
	}
	if err != nil {
		return false, fmt.Errorf("imaging: copy %s: %w", info.Key, err)
	}
	defer src.Close()
	contentType := info.ContentType
	if contentType == "" {
		if stat, err := from.Stat(ctx, info.Key); err == nil {
			contentType = stat.ContentType
		}
	}
	body := bufio.NewReaderSize(src, 512)
	if contentType == "" {
		head, _ := body.Peek(512)
		if contentType = sniffType(head); contentType == "" {
			contentType = http.DetectContentType(head)
		}
	}
	if err := to.Put(ctx, info.Key, io.Reader(body), src.Size(), contentType); err != nil {
		return false, fmt.Errorf("imaging: copy %s: %w", info.Key, err)
	}
	return true, nil
}
