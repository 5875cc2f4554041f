// Package cli is levee's command line: one file per command. Exit codes are
// stable for scripts: 0 success, 1 runtime failure, 2 bad usage or a config
// that does not validate.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"levee/internal/app"
)

// Version is set at build time with -ldflags "-X levee/internal/cli.Version=...".
var Version = "0.1.0-dev"

// Exit codes.
const (
	ExitOK      = 0
	ExitRuntime = 1
	ExitUsage   = 2
)

// usageError marks errors that exit with ExitUsage.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// Main runs the command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "levee",
		Short:         "levee: a self-hosted internet edge in one binary",
		Long:          "levee is a reverse proxy with TLS, a CDN cache, a DDoS shield, health-checked load balancing\nand authoritative DNS, in one binary. `levee help` lists the reference pages (the README's).",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
		Args:          cobra.NoArgs,
		// Without a command there is nothing to do: usage, exit 2.
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Usage()
			return usageError{errors.New("no command given; try `levee demo` or `levee --help`")}
		},
	}
	root.SetVersionTemplate("levee {{.Version}}\n")
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.SetHelpCommand(helpCmd())
	root.AddCommand(serveCmd(), validateCmd(), reverseProxyCmd(), demoCmd(), versionCmd())
	for _, extra := range extraCommands {
		root.AddCommand(extra())
	}
	strictCompletion(root)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "levee:", err)
	var u usageError
	if errors.As(err, &u) || isCobraUsage(err) {
		return ExitUsage
	}
	return ExitRuntime
}

// strictCompletion makes `levee completion` without a shell, or with one
// it does not know, a usage error (exit 2): cobra's own prints the help
// and exits 0, so a typo in a setup script went unnoticed.
func strictCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Usage()
			if len(args) == 0 {
				return usageError{errors.New("completion needs a shell: bash, zsh, fish or powershell")}
			}
			return usageError{fmt.Errorf("no completion for shell %q; shells: bash, zsh, fish, powershell", args[0])}
		}
	}
}

// extraCommands lets capability packages add commands (purge, dns) without
// this file knowing them in advance.
var extraCommands []func() *cobra.Command

func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires ", "invalid argument"} {
		if len(msg) >= len(p) && contains(msg, p) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// defaultDataDir is $LEVEE_DATA_DIR, else $XDG_STATE_HOME/levee, else
// ~/.local/state/levee.
func defaultDataDir() string {
	if d := os.Getenv("LEVEE_DATA_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "levee")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "levee")
	}
	return ".levee"
}

// startError is the exit of a failed start: a socket that cannot be opened
// is a runtime failure (exit 1) for every command; anything else is the
// config's fault (exit 2).
func startError(err error) error {
	if errors.Is(err, app.ErrCannotListen) {
		return err
	}
	return usageError{err}
}
