package cli

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"levee/internal/config"
)

func init() { extraCommands = append(extraCommands, configCmd) }

func configCmd() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Tools for config files"}
	c.AddCommand(&cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the config file, for editors",
		Long: `Print the JSON Schema (draft 2020-12) of levee's config file, generated from
the same Go types the decoder uses. Point a YAML editor at it to complete
and check keys, e.g. with a first line in levee.yaml:

  # yaml-language-server: $schema=levee.schema.json

  levee config schema > levee.schema.json

It checks keys and types; bounds and cross-references are levee validate's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(config.JSONSchema())
		},
	})
	return c
}
