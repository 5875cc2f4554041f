package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, reloadCmd) }

func reloadCmd() *cobra.Command {
	var admin string
	c := &cobra.Command{
		Use:   "reload [--admin ADDR]",
		Short: "Make one running node re-read its config file (through its admin API)",
		Long: `Reload asks the node whose admin API is at ADDR to re-read its config file,
validate it and swap it in without dropping a request. Unlike a SIGHUP sent
by process name, it reaches exactly one node. It also makes the file win
over a config posted to POST /config (SIGHUP and the file watch are refused
while one is active, so a posted config is never undone silently).

Exits 0 when the file was applied, 2 when it was rejected (the node keeps
serving its current config), 1 when the node could not be reached.

  levee reload --admin 127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := postAdmin(admin, "/reload")
			if err != nil {
				return err
			}
			defer res.Body.Close()
			out, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
			var ans struct {
				Error  string `json:"error"`
				Status struct {
					Generation uint64 `json:"generation"`
				} `json:"status"`
			}
			_ = json.Unmarshal(out, &ans)
			switch res.StatusCode {
			case http.StatusOK:
				fmt.Fprintf(cmd.OutOrStdout(), "reloaded: generation %d\n", ans.Status.Generation)
				return nil
			case http.StatusUnprocessableEntity:
				return usageError{fmt.Errorf("reload rejected, the node keeps its current config: %s", ans.Error)}
			}
			return fmt.Errorf("reload: admin API answered %s: %s", res.Status, strings.TrimSpace(string(out)))
		},
	}
	c.Flags().StringVar(&admin, "admin", "127.0.0.1:9090", "admin API address of the node")
	return c
}

// postAdmin sends an empty POST to a node's admin API.
func postAdmin(admin, path string) (*http.Response, error) {
	if !strings.Contains(admin, "://") {
		admin = "http://" + admin
	}
	cl := &http.Client{Timeout: 60 * time.Second}
	res, err := cl.Post(strings.TrimSuffix(admin, "/")+path, "application/json", nil)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the admin API at %s: %w", admin, err)
	}
	return res, nil
}
