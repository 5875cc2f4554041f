package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"levee/internal/cluster"
)

func init() { extraCommands = append(extraCommands, clusterCmd) }

func clusterCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster a node belongs to, and roll configs out to it",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(clusterStatusCmd())
	c.AddCommand(clusterRolloutCmds()...)
	return c
}

func clusterStatusCmd() *cobra.Command {
	var admin string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [--admin ADDR]",
		Short: "List the cluster's members as a node sees them",
		Long: `Status asks one node's admin API for the members it saw last (name, version,
config version, last heartbeat, health) and whether it reaches the store.

  levee cluster status --admin 127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !strings.Contains(admin, "://") {
				admin = "http://" + admin
			}
			cl := &http.Client{Timeout: 10 * time.Second}
			res, err := cl.Get(strings.TrimSuffix(admin, "/") + "/cluster")
			if err != nil {
				return err
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("cluster status: admin API answered %s: %s", res.Status, strings.TrimSpace(string(body)))
			}
			var st cluster.Status
			if err := json.Unmarshal(body, &st); err != nil {
				return fmt.Errorf("cluster status: unreadable answer: %v", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := out.Write(body)
				return err
			}
			return printClusterStatus(out, st)
		},
	}
	c.Flags().StringVar(&admin, "admin", "127.0.0.1:9090", "admin API address of the node")
	c.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	return c
}

func printClusterStatus(w io.Writer, st cluster.Status) error {
	if !st.Enabled {
		_, err := fmt.Fprintln(w, "not in a cluster (no cluster.redis in its config)")
		return err
	}
	fmt.Fprintf(w, "node %s, store %s, purges applied up to #%d\n", st.Node, st.Store, st.PurgeSeq)
	printRollout(w, st.Config)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tCONFIG\tHEALTH\tLAST HEARTBEAT")
	for _, m := range st.Members {
		ago := "-"
		if !m.LastHeartbeat.IsZero() {
			ago = time.Since(m.LastHeartbeat).Round(time.Millisecond).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.Version, m.ConfigVersion, m.Health, ago)
	}
	return tw.Flush()
}
