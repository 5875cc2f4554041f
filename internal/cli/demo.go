package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"levee/internal/app"
	"levee/internal/demo"
)

func demoCmd() *cobra.Command {
	var listen, admin, dataDir string
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run an edge in front of a built-in demo origin, with nothing to set up",
		Long: `Start a built-in demo origin on a free loopback port and an edge in front of
it on 127.0.0.1:8080, with the admin API on 127.0.0.1:9090, using levee's
embedded default config. Prints a few commands to try. Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := app.New(app.Options{Version: Version, DataDir: dataDir})
			originURL, stop, err := demo.ListenOrigin("127.0.0.1:0", n.Wall().Go)
			if err != nil {
				return err
			}
			defer stop()
			if err := n.StartFrom("embedded demo config", demo.Render(originURL, listen, admin)); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, a := range n.Addrs() {
				listen = a.String()
			}
			if a := n.AdminAddr(); a != nil {
				admin = a.String()
			}
			fmt.Fprintf(out, "levee demo: edge on http://%s -> demo origin %s; admin on http://%s\n\nTry:\n", listen, originURL, admin)
			for _, l := range []string{
				"curl -i http://" + listen + "/",
				"curl -s http://" + listen + "/api/time",
				"curl -N http://" + listen + "/stream",
				"curl -s http://" + admin + "/status",
				"curl -s http://" + admin + "/metrics | grep levee_",
				"curl -s http://" + admin + "/config",
			} {
				fmt.Fprintln(out, "  "+l)
			}
			fmt.Fprintln(out, "\nAccess log follows on stdout; Ctrl-C to stop.")
			return n.Run(context.Background())
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "edge address")
	c.Flags().StringVar(&admin, "admin", "127.0.0.1:9090", "admin API address")
	c.Flags().StringVar(&dataDir, "data-dir", "", "where to keep the last-known-good config (default: not kept)")
	return c
}
