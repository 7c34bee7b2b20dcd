// Command shiftaddaug is the command-line front of the library: the simulator, the architectures, training,
// export, benchmarks, datasets and the main job that reproduces the paper's tables.
//
// Every subcommand lives in its own file and registers itself with register(). Errors are returned, never
// panicked, and printed as one line on stderr with a non-zero exit.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: `shiftaddaug NAME args...`.
type command struct {
	name    string
	summary string // one line for the command list
	run     func(args []string) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("duplicate command " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks an error after which the usage was already printed (e.g. -h): exit 2 without a message.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "shiftaddaug: ShiftAddAug (CVPR-W 2024) in Go: multiplication-free tiny networks with hybrid-computation augmentation.")
	fmt.Fprintln(w, "\nUsage: shiftaddaug COMMAND [flags]   (shiftaddaug COMMAND --help for a command's flags)\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs one command line and returns the exit code; tests call it directly.
func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "shiftaddaug: unknown command %q; run 'shiftaddaug --help' for the list\n", args[0])
		return 2
	}
	out, errOut = stdout, stderr
	err := c.run(args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "shiftaddaug %s: %s\n", c.name, oneLine(err.Error()))
		return 1
	}
}

// out and errOut are where commands print; runMain points them at the caller's writers.
var out, errOut io.Writer = os.Stdout, os.Stderr

// newFlags returns a flag set for a subcommand that reports errors instead of exiting.
func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("shiftaddaug "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse errors are reported by parseFlags as one line
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: shiftaddaug %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and rejects stray positional arguments unless allowPositional.
func parseFlags(fs *flag.FlagSet, args []string, allowPositional bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(out)
			fs.Usage()
			return err
		}
		return fmt.Errorf("%v (see '%s --help')", err, fs.Name())
	}
	if !allowPositional && fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags come as --name value)", fs.Arg(0))
	}
	return nil
}

// oneLine folds an error message onto one line, dropping any goroutine stack trace a recovered panic carried
// and capping its length, so that a failure reads as one line.
func oneLine(s string) string {
	if i := strings.Index(s, "goroutine "); i > 0 {
		s = s[:i]
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 600 {
		s = s[:600] + " ..."
	}
	return s
}
