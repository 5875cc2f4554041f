package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"levee/internal/app"
)

func serveCmd() *cobra.Command {
	var opts app.Options
	c := &cobra.Command{
		Use:   "serve -c levee.yaml",
		Short: "Serve every site in a config file (the main job)",
		Long: `Serve every site in a YAML config file.

On SIGHUP, POST /config to the admin API, or (with reload.watch) a file change,
the config is validated and swapped in without dropping requests; a rejected
config leaves the running one in place. If the file is broken at start, levee
starts on the last config that applied cleanly (kept in --data-dir) unless
--strict is given. SIGTERM drains in-flight requests, then exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.ConfigPath == "" {
				return usageError{fmt.Errorf("serve needs -c FILE")}
			}
			opts.Version = Version
			opts.Log = cmd.ErrOrStderr()
			n := app.New(opts)
			if err := n.Start(); err != nil {
				return startError(err)
			}
			return n.Run(context.Background())
		},
	}
	c.Flags().StringVarP(&opts.ConfigPath, "config", "c", "", "config file (YAML)")
	c.Flags().StringVar(&opts.DataDir, "data-dir", defaultDataDir(), "directory for state such as the last-known-good config")
	c.Flags().BoolVar(&opts.Strict, "strict", false, "refuse to start on a broken config instead of using the last-known-good one")
	return c
}
