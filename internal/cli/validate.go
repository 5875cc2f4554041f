package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"levee/internal/config"
)

func validateCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "validate (-c levee.yaml | levee.yaml)",
		Short: "Check a config file without touching any running node",
		Long: `Check a config file: strict decoding, every bound, every rule, and that
the files it names (certificates, CA bundles) load. Prints every error with
its line and path, e.g.

  levee.yaml:14:18: sites[0].routes[1].origins[0].url: scheme must be http or https
  levee.yaml:9:5: sites[0].hostz: unknown key, did you mean "hosts"?

Exits 0 when the config is valid and 2 when it is not.`,
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
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", path)
			return nil
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	return c
}
