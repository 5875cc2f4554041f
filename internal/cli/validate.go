package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"levee/internal/app"
	"levee/internal/config"
)

func validateCmd() *cobra.Command {
	var path string
	var strict bool
	c := &cobra.Command{
		Use:   "validate (-c levee.yaml | levee.yaml)",
		Short: "Check a config file without touching any running node",
		Long: `Check a config file: strict decoding, every bound, every rule, and that
the files it names (certificates, CA bundles) load. Prints every error with
its line and path, e.g.

  levee.yaml:14:18: sites[0].routes[1].origins[0].url: scheme must be http or https
  levee.yaml:9:5: sites[0].hostz: unknown key, did you mean "hosts"?

It then warns (on stderr, each line starting "warning:") about what serve
would hit or should not be left so: a port already in use on this host, a
steered DNS pool without active health checks, an admin API reachable from
other hosts (it has no authentication).

Exits 0 when the config is valid (warnings or not) and 2 when it is not, or
when it has warnings and --strict is given.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if path != "" && path != args[0] {
					return usageError{fmt.Errorf("validate takes one file: -c %s or %s, not both", path, args[0])}
				}
				path = args[0]
			}
			if path == "" {
				return usageError{fmt.Errorf("validate needs -c FILE")}
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return usageError{err}
			}
			if _, err := config.Load(path, src); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return usageError{fmt.Errorf("%s is not valid", path)}
			}
			if err := checkFiles(path, src); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return usageError{fmt.Errorf("%s is not valid", path)}
			}
			warnings := app.Warnings(path, src)
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w.Error())
			}
			if len(warnings) > 0 && strict {
				return usageError{fmt.Errorf("%s: %d warnings, and --strict makes them errors", path, len(warnings))}
			}
			if len(warnings) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: valid, with %d warnings\n", path, len(warnings))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", path)
			return nil
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	c.Flags().BoolVar(&strict, "strict", false, "treat warnings (a port in use, a steered pool without active checks, an admin API open to other hosts) as errors")
	return c
}
