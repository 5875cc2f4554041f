package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"levee/internal/cluster"
	"levee/internal/config"
)

// clusterRolloutCmds are push, pause, resume and rollback: they speak to
// the store directly, found through the config file's cluster section (or
// --redis), so they work when no node's admin API is reachable.
func clusterRolloutCmds() []*cobra.Command {
	return []*cobra.Command{clusterPushCmd(), clusterControlCmd("pause", "Stop the rollout's stages where they are"),
		clusterControlCmd("resume", "Let a paused rollout go on (the current stage bakes again in full)"),
		clusterControlCmd("rollback", "Bring the last good version back on every node at once")}
}

type storeFlags struct {
	path  string
	redis string
}

func (f *storeFlags) add(c *cobra.Command) {
	c.Flags().StringVarP(&f.path, "config", "c", "", "config file whose cluster section names the store")
	c.Flags().StringVar(&f.redis, "redis", "", "the store's URL, overriding the file's cluster.redis")
}

// cluster returns the cluster section to reach the store with, and the
// file's source when there is one.
func (f *storeFlags) cluster() (*cluster.Config, []byte, error) {
	c := &cluster.Config{}
	var src []byte
	if f.path != "" {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return nil, nil, usageError{err}
		}
		p, err := config.Load(f.path, b)
		if err != nil {
			return nil, nil, usageError{fmt.Errorf("%v\n%s is not valid; nothing was pushed", err, f.path)}
		}
		src = b
		*c = p.Config.Cluster
	}
	if f.redis != "" {
		c.Redis = f.redis
	}
	if !c.On() {
		return nil, nil, usageError{errors.New("no store: give -c FILE with a cluster.redis, or --redis URL")}
	}
	c.SetDefaults()
	return c, src, nil
}

func clusterPushCmd() *cobra.Command {
	var f storeFlags
	var fast bool
	var canaries []string
	var switches string
	c := &cobra.Command{
		Use:   "push -c levee.yaml [--fast] [--canary NODE]...",
		Short: "Roll a config out to every node of the cluster, canaries first",
		Long: `Push validates the file, stores it as the cluster's next config version
and starts its rollout: the canary node(s) first, then a share of the
members, then all, baking cluster.rollout.bake between stages. Every node
validates the version again before activating it; one that refuses it
stops the rollout. While a stage bakes, the nodes on the new version are
compared with the rest (5xx rate, panics): worse, and the version is rolled
back everywhere it reached. Each node keeps its own listeners, admin and
cluster sections.

--fast skips the stages and the bake (every node at once, still
validating); it is recorded as such in the store's audit stream.

The data files the config names (bots.features, shield.lists.allow_file
and deny_file, dns.zones[].file) ride with it: each node writes them to
its data directory and checks them in its config gate with the config, so
a file a node refuses stops the rollout and every node keeps its last good
files. To roll out a new feature file or list, push the config again.

--switches FILE rolls out a kill switch file instead (module names, one a
line, as in the data directory's kill-switches file; an empty file turns
every module back on), with the last good config unchanged; -c then only
names the store.

  levee cluster push -c levee.yaml
  levee cluster push -c levee.yaml --canary edge-3
  levee cluster push -c levee.yaml --fast
  levee cluster push -c levee.yaml --switches kill-switches --fast`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.path == "" && switches == "" {
				return usageError{errors.New("push needs -c FILE: the config to roll out")}
			}
			cfg, src, err := f.cluster()
			if err != nil {
				return err
			}
			o := cluster.PushOptions{Fast: fast, Canaries: canaries, By: cluster.Operator()}
			if switches != "" {
				if o.Switches, err = os.ReadFile(switches); err != nil {
					return usageError{err}
				}
				if o.Switches == nil {
					o.Switches = []byte{}
				}
				src = nil
			} else if err := checkFiles(f.path, src); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return usageError{fmt.Errorf("%s is not valid; nothing was pushed", f.path)}
			} else if o.Files, err = cluster.DataFiles(src); err != nil {
				return usageError{fmt.Errorf("%v; nothing was pushed", err)}
			}
			p, err := cluster.Push(cfg, src, o)
			if err != nil {
				return fmt.Errorf("push: %w", err)
			}
			return printPlan(cmd.OutOrStdout(), "pushed", p)
		},
	}
	f.add(c)
	c.Flags().BoolVar(&fast, "fast", false, "every node at once, no bake (still validated; audited)")
	c.Flags().StringSliceVar(&canaries, "canary", nil, "node(s) to get the version first")
	c.Flags().StringVar(&switches, "switches", "", "roll out this kill switch file instead of a config")
	return c
}

func clusterControlCmd(action, short string) *cobra.Command {
	var f storeFlags
	c := &cobra.Command{
		Use:   action + " -c levee.yaml | --redis URL",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := f.cluster()
			if err != nil {
				return err
			}
			p, err := cluster.Control(cfg, action, cluster.Operator())
			if err != nil {
				return fmt.Errorf("%s: %w", action, err)
			}
			return printPlan(cmd.OutOrStdout(), action, p)
		},
	}
	f.add(c)
	return c
}

func printPlan(w io.Writer, what string, p cluster.Plan) error {
	fmt.Fprintf(w, "%s: version %d, %s, %s\n", what, p.Version, p.Kind, p.State)
	if p.Kind == cluster.KindRollback {
		fmt.Fprintf(w, "  rolls back version %d: every node gets the last good config again\n", p.Of)
		return nil
	}
	for i, s := range p.Stages {
		fmt.Fprintf(w, "  stage %d: %s\n", i, strings.Join(s, ", "))
	}
	fmt.Fprintf(w, "  stage %d: every member\n", len(p.Stages))
	if p.Kind != cluster.KindFast {
		fmt.Fprintf(w, "  bake %s per stage; falls back to version %d\n", time.Duration(p.BakeMS)*time.Millisecond, p.Previous)
	}
	return nil
}

// printRollout is the config part of `levee cluster status`.
func printRollout(w io.Writer, st *cluster.ConfigStatus) {
	if st == nil {
		return
	}
	fmt.Fprintf(w, "config version %d", st.Applied)
	if st.Rejected != 0 {
		fmt.Fprintf(w, " (refused version %d: %s)", st.Rejected, st.Reason)
	}
	if st.Driver {
		fmt.Fprint(w, "; drives the rollout")
	}
	fmt.Fprintln(w)
	if p := st.Plan; p != nil {
		fmt.Fprintf(w, "rollout: version %d %s %s, stage %d of %d", p.Version, p.Kind, p.State, p.Stage, len(p.Stages))
		if p.Reason != "" {
			fmt.Fprintf(w, ": %s", p.Reason)
		}
		fmt.Fprintln(w)
	}
}
