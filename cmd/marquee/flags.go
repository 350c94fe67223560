package main

import (
	"encoding"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// flags is one subcommand's command line. A setting declared with its typed
// methods (String, Int, Float, Duration, Size, Bool, Text) is a flag that
// also reads an environment variable, named by envName: --data-dir reads
// MARQUEE_DATA_DIR. A flag on the command line beats the variable, which
// beats the default: the value the pointer holds when the setting is
// declared. Plain flags that are not settings go on set directly.
type flags struct {
	set      *flag.FlagSet
	synopsis string // "marquee run [flags]"
	about    string // what the command does, shown by --help
	settings []string
	typeName map[string]string // per flag, for --help
	// given and fromEnv record, after parse, the flags given on the command
	// line and the settings taken from environment variables.
	given, fromEnv map[string]bool
}

func newFlags(synopsis, about string) *flags {
	set := flag.NewFlagSet(synopsis, flag.ContinueOnError)
	// parse and usage report errors and help themselves, with the variables.
	set.SetOutput(io.Discard)
	set.Usage = func() {}
	return &flags{set: set, synopsis: synopsis, about: about, typeName: map[string]string{}}
}

// envName is the environment variable of the setting with flag name:
// MARQUEE_ and the name upper-cased, with "-" as "_".
func envName(name string) string {
	return "MARQUEE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func (f *flags) String(p *string, name, usage string) {
	declareSetting(f, p, name, usage, "string",
		func(s string) (string, error) { return s, nil },
		func(s string) string { return s })
}

func (f *flags) Int(p *int, name, usage string) {
	declareSetting(f, p, name, usage, "int", func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, errors.New("want a whole number")
		}
		return n, nil
	}, strconv.Itoa)
}

func (f *flags) Float(p *float64, name, usage string) {
	declareSetting(f, p, name, usage, "float", func(s string) (float64, error) {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, errors.New("want a number such as 0.2")
		}
		return x, nil
	}, func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) })
}

// Duration declares a setting in Go syntax: "90s", "1h30m".
func (f *flags) Duration(p *time.Duration, name, usage string) {
	declareSetting(f, p, name, usage, "duration", func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, errors.New("want a duration such as 90s or 1h30m")
		}
		return d, nil
	}, time.Duration.String)
}

// Size declares a setting in bytes that accepts units: "10MiB", "1.5GB".
func (f *flags) Size(p *byteSize, name, usage string) {
	declareSetting(f, p, name, usage, "size", parseByteSize, byteSize.String)
}

// Bool declares a setting that accepts strconv.ParseBool's spellings; on the
// command line --name alone means true.
func (f *flags) Bool(p *bool, name, usage string) {
	declareSetting(f, p, name, usage, "", func(s string) (bool, error) {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, errors.New("want true or false")
		}
		return b, nil
	}, strconv.FormatBool)
}

// textSetting is a value that parses and prints itself, like slog.Level.
type textSetting interface {
	encoding.TextMarshaler
	encoding.TextUnmarshaler
}

// Text declares a setting of any type that parses and prints itself.
func (f *flags) Text(p textSetting, name, usage string) {
	f.set.TextVar(p, name, p, usage)
	f.settings = append(f.settings, name)
}

// declareSetting adds the setting name, held in *p, to f. typeName is what
// --help shows after the flag ("" for a bool), unless usage names it in
// backquotes; parse's errors say what a valid value looks like.
func declareSetting[T any](f *flags, p *T, name, usage, typeName string, parse func(string) (T, error), format func(T) string) {
	f.set.Var(&settingValue[T]{p: p, parse: parse, format: format, isBool: typeName == ""}, name, usage)
	f.settings = append(f.settings, name)
	f.typeName[name] = typeName
}

// settingValue is the flag.Value of a setting of type T.
type settingValue[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
	isBool bool
}

func (v *settingValue[T]) Set(s string) error {
	value, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p = value
	return nil
}

func (v *settingValue[T]) String() string {
	if v == nil || v.p == nil { // flag calls String on a zero value
		return ""
	}
	return v.format(*v.p)
}

// IsBoolFlag lets --name stand for --name=true.
func (v *settingValue[T]) IsBoolFlag() bool { return v.isBool }

// usageError is a mistake on the command line or in a variable: the command
// exits 2 after printing it with its usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// parse reads args, then, for each setting not given as a flag, its
// environment variable when set and not empty (an empty variable counts as
// unset, as compose files produce for undefined ones). It returns
// flag.ErrHelp for -h and --help, and a *usageError for anything wrong.
func (f *flags) parse(args []string, lookupEnv func(string) (string, bool)) error {
	if err := f.set.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	lookupEnv, err := withSecretFiles(f.settings, lookupEnv)
	if err != nil {
		return err
	}
	f.given, f.fromEnv = map[string]bool{}, map[string]bool{}
	f.set.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	for _, name := range f.settings {
		if f.given[name] {
			continue
		}
		value, ok := lookupEnv(envName(name))
		if !ok || value == "" {
			continue
		}
		if err := f.set.Set(name, value); err != nil {
			if isSecretSetting(name) { // the value is a secret: never echo it
				return &usageError{fmt.Sprintf("invalid value for %s: %v", envName(name), err)}
			}
			return &usageError{fmt.Sprintf("invalid value %q for %s: %v", value, envName(name), err)}
		}
		f.fromEnv[name] = true
	}
	return nil
}

// usage is the --help text: synopsis, description, and every flag with its
// variable and default.
func (f *flags) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s\n\n%s\n", f.synopsis, f.about)
	isSetting := map[string]bool{}
	for _, name := range f.settings {
		isSetting[name] = true
	}
	header := false
	f.set.VisitAll(func(fl *flag.Flag) {
		if !header {
			b.WriteString("\nFlags (a flag beats its environment variable, which beats the default):\n")
			header = true
		}
		typeName, usage := flag.UnquoteUsage(fl)
		if name, ok := f.typeName[fl.Name]; ok && typeName == "value" {
			typeName = name
		}
		fmt.Fprintf(&b, "  --%s", fl.Name)
		if typeName != "" {
			fmt.Fprintf(&b, " %s", typeName)
		}
		fmt.Fprintf(&b, "\n        %s", usage)
		var notes []string
		if isSetting[fl.Name] {
			notes = append(notes, "$"+envName(fl.Name))
			if isSecretSetting(fl.Name) {
				notes = append(notes, "$"+envName(fl.Name)+"_FILE")
			}
		}
		if fl.DefValue != "" && fl.DefValue != "false" {
			notes = append(notes, "default "+fl.DefValue)
		}
		if len(notes) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(notes, ", "))
		}
		b.WriteString("\n")
	})
	return b.String()
}

// parseOrExit parses args for a command. When the command must stop it
// returns false and the exit code: 0 after --help (usage on stdout), 2 after
// a usage error (the error and the usage on stderr).
func (f *flags) parseOrExit(args []string, env environment) (exitCode int, ok bool) {
	err := f.parse(args, env.lookupEnv)
	if err == nil {
		return exitOK, true
	}
	return f.usageExit(err, env), false
}

// parseFlagsOnly is parseOrExit for a command that takes no positional
// arguments: any left over is a usage error.
func (f *flags) parseFlagsOnly(args []string, env environment) (exitCode int, ok bool) {
	if code, ok := f.parseOrExit(args, env); !ok {
		return code, false
	}
	if f.set.NArg() > 0 {
		return f.usageExit(&usageError{fmt.Sprintf("unexpected argument %q", f.set.Arg(0))}, env), false
	}
	return exitOK, true
}

// usageExit prints the usage for err and returns the exit code.
func (f *flags) usageExit(err error, env environment) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.stdout, f.usage())
		return exitOK
	}
	fmt.Fprintf(env.stderr, "marquee: %v\n\n%s", err, f.usage())
	return exitUsage
}

// parsePositional is parseOrExit for a command whose positional arguments
// may come before, between or after its flags; it returns them in order.
func (f *flags) parsePositional(args []string, env environment) (positional []string, exitCode int, ok bool) {
	args = append([]string(nil), args...)
	for {
		if code, ok := f.parseOrExit(args, env); !ok {
			return nil, code, false
		}
		if f.set.NArg() == 0 {
			return positional, exitOK, true
		}
		at := len(args) - f.set.NArg()
		if at > 0 && args[at-1] == "--" { // everything after -- is positional
			return append(positional, f.set.Args()...), exitOK, true
		}
		positional = append(positional, args[at])
		args = append(args[:at], args[at+1:]...)
	}
}
