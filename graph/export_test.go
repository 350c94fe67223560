package graph

import "sync/atomic"

// ExecutorOnly returns opts with the direct writer off: every field goes
// through gqlgen's executor.
func ExecutorOnly(opts Options) Options {
	opts.executorOnly = true
	return opts
}

// CountingWork returns opts that add to work every node that measuring,
// validating and pricing a document visits.
func CountingWork(opts Options, work *atomic.Int64) Options {
	opts.work = work
	return opts
}
