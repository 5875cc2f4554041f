package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"levee/internal/admin"
)

func init() { extraCommands = append(extraCommands, tokenCmd) }

func tokenCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "Manage the admin API's bearer tokens",
		Long: `Admin API tokens live hashed in the data directory; a running node picks
up a new or revoked token within a second, without a reload. Scopes:
read, purge, config, switches, admin (admin holds all).`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(tokenCreateCmd(), tokenListCmd(), tokenRevokeCmd())
	return c
}

func tokenCreateCmd() *cobra.Command {
	var scopes []string
	var name, dataDir string
	c := &cobra.Command{
		Use:   "create --scope read[,purge,...] [--name NAME]",
		Short: "Create a token and print it (once: only its hash is kept)",
		Long: `Create an admin API token with the given scopes and print it on stdout.
The token is shown this once; the data directory keeps only its hash.

  levee token create --scope read,purge --name ci
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9090/api/v1/status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := admin.ParseScopes(scopes); err != nil {
				return usageError{err}
			}
			ts, err := admin.OpenTokens(dataDir)
			if err != nil {
				return err
			}
			secret, t, err := ts.Create(name, scopes)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s created with scopes %s; it is not shown again\n", t.ID, strings.Join(t.Scopes, ","))
			return nil
		},
	}
	c.Flags().StringSliceVar(&scopes, "scope", nil, "scopes, comma-separated: read, purge, config, switches, admin")
	c.Flags().StringVar(&name, "name", "", "a name for the audit log, e.g. ci or alice")
	c.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "the node's data directory")
	return c
}

func tokenListCmd() *cobra.Command {
	var dataDir string
	c := &cobra.Command{
		Use:   "list",
		Short: "List tokens (IDs, names, scopes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := admin.OpenTokens(dataDir)
			if err != nil {
				return err
			}
			for _, t := range ts.List() {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Scopes, ","), t.Created.Format("2006-01-02"))
			}
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "the node's data directory")
	return c
}

func tokenRevokeCmd() *cobra.Command {
	var dataDir string
	c := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token by its ID",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := admin.OpenTokens(dataDir)
			if err != nil {
				return err
			}
			if err := ts.Revoke(args[0]); err != nil {
				return usageError{err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "the node's data directory")
	return c
}
