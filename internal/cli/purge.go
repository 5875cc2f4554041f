package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"levee/internal/cache"
)

func init() { extraCommands = append(extraCommands, purgeCmd) }

func purgeCmd() *cobra.Command {
	var p cache.Purge // the body of POST /purge
	var admin, token string
	c := &cobra.Command{
		Use:   "purge (--url URL | --prefix P | --host H | --tag T | --all) [--soft]",
		Short: "Purge cached objects through a running node's admin API",
		Long: `Purge removes cached objects (or, with --soft, marks them stale so they are
revalidated and can still be served if the origin fails). It prints how many
objects were touched. The purge takes effect for the very next request.

  levee purge --url https://example.com/logo.png
  levee purge --prefix example.com/static/ --soft
  levee purge --tag product-42`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, _ := json.Marshal(&p)
			if !strings.Contains(admin, "://") {
				admin = "http://" + admin
			}
			cl := &http.Client{Timeout: 60 * time.Second}
			req, err := http.NewRequest("POST", strings.TrimSuffix(admin, "/")+"/purge", bytes.NewReader(body))
			if err != nil {
				return usageError{err}
			}
			req.Header.Set("Content-Type", "application/json")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			res, err := cl.Do(req)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			out, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
			var ans struct {
				Purged int    `json:"purged"`
				Error  string `json:"error"`
			}
			_ = json.Unmarshal(out, &ans)
			if res.StatusCode == http.StatusBadRequest {
				return usageError{fmt.Errorf("purge: %s", ans.Error)}
			}
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("purge: admin API answered %s: %s", res.Status, strings.TrimSpace(string(out)))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "purged %s\n", plural(ans.Purged, "object"))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&admin, "admin", "127.0.0.1:9090", "admin API address of the node")
	f.StringVar(&token, "token", os.Getenv("LEVEE_ADMIN_TOKEN"), "admin API token with the purge scope (default $LEVEE_ADMIN_TOKEN)")
	f.StringVar(&p.URL, "url", "", "purge one URL (all its variants)")
	f.StringVar(&p.Prefix, "prefix", "", "purge URLs starting with host/path (or /path on every host)")
	f.StringVar(&p.Host, "host", "", "purge every object of a host")
	f.StringVar(&p.Tag, "tag", "", "purge objects tagged by Cache-Tag or Surrogate-Key")
	f.BoolVar(&p.All, "all", false, "purge everything")
	f.BoolVar(&p.Soft, "soft", false, "mark stale instead of deleting")
	return c
}

// plural writes "1 object", "2 objects".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
