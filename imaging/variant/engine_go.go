//go:build !vips

package variant

// DefaultEngine is the engine of this build: the pure-Go GoEngine (a build
// with the vips tag renders with libvips instead).
func DefaultEngine() Engine { return GoEngine{} }

// Engines lists the engines of this build, the default first.
func Engines() []Engine { return []Engine{GoEngine{}} }
