package graph

// ExecutorOnly returns opts with the direct writer off: every field goes
// through gqlgen's executor.
func ExecutorOnly(opts Options) Options {
	opts.executorOnly = true
	return opts
}
