package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"levee/internal/bots"
)

func init() { extraCommands = append(extraCommands, botsCmd) }

func botsCmd() *cobra.Command {
	c := &cobra.Command{Use: "bots", Short: "Bot management tools"}
	var example int
	var check string
	f := &cobra.Command{
		Use:   "features (--example N | --check FILE)",
		Short: "Write an example feature file, or check one as a node would",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if check != "" {
				return checkFeatures(cmd, check)
			}
			if example < 0 {
				return usageError{fmt.Errorf("want --example N or --check FILE")}
			}
			data, err := bots.Example(example)
			if err != nil {
				return usageError{err}
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	f.Flags().IntVar(&example, "example", -1, "write a valid feature file of N features to standard output")
	f.Flags().StringVar(&check, "check", "", "check a feature file against the default bounds")
	c.AddCommand(f)
	return c
}

func checkFeatures(cmd *cobra.Command, path string) error {
	data, err := readBounded(path, bots.HardMaxFileBytes)
	if err != nil {
		return err
	}
	feats, err := bots.Parse(data, bots.Limits{MaxFeatures: bots.DefaultMaxFeatures, MaxBytes: bots.DefaultMaxFileBytes})
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %d features, version %s\n", path, len(feats), bots.Compile(feats, data).Version)
	return nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}
