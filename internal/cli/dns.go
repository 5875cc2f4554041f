package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"levee/internal/config"
	"levee/internal/dns"
	"levee/internal/guard"
	"levee/internal/telemetry"
)

func init() { extraCommands = append(extraCommands, dnsCmd) }

func dnsCmd() *cobra.Command {
	var zone, listen, origin string
	var sockets int
	var rrl bool
	c := &cobra.Command{
		Use:   "dns --zone FILE --listen ADDR",
		Short: "Serve one zone file authoritatively over UDP and TCP, nothing else",
		Long: `Quick mode: serve one RFC 1035 zone file on ADDR (UDP and TCP) and nothing
else: no HTTP, no admin API. The zone passes the same checks as in a config
file (strict parse, record bound). Stays in the foreground; SIGTERM or SIGINT
stops it.

Response rate limiting is on with its defaults, which exempt loopback
clients (so a benchmark from 127.0.0.1 is not limited); --rrl=false turns it
off altogether.

  levee dns --zone examples/example.test.zone --listen 127.0.0.1:5300`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if zone == "" {
				return usageError{fmt.Errorf("dns needs --zone FILE")}
			}
			if origin == "" {
				o, err := dns.OriginOf(zone)
				if err != nil {
					return usageError{err}
				}
				origin = o
			}
			cfg := dns.Config{Listen: []string{listen}, UDPSockets: sockets,
				Zones: []dns.ZoneConfig{{Origin: origin, File: zone}}}
			cfg.RRL.Enabled = &rrl
			cfg.SetDefaults()
			zs, err := dns.Build(&cfg, nil)
			if err != nil {
				return usageError{err}
			}
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
			defer signal.Stop(sigs)
			log := telemetry.NewLogger(cmd.ErrOrStderr(), "info")
			srv := dns.New(dns.Options{Log: log, Wall: guard.New(log, nil)})
			srv.Apply(&cfg, zs)
			defer srv.Stop()
			if _, ok := srv.Addrs()[listen]; !ok {
				return fmt.Errorf("cannot listen on %s", listen)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "levee: serving %s from %s on %s (udp+tcp); SIGHUP re-reads the zone\n", origin, zone, listen)
			for s := range sigs {
				if s != syscall.SIGHUP {
					return nil
				}
				reloadZone(srv, &cfg, log)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&zone, "zone", "", "zone file (RFC 1035)")
	f.StringVar(&listen, "listen", "127.0.0.1:5300", "address to serve, UDP and TCP")
	f.StringVar(&origin, "origin", "", "zone origin (default: the owner of the file's SOA)")
	f.IntVar(&sockets, "udp-sockets", 0, "UDP sockets (SO_REUSEPORT); 0: one per usable CPU")
	f.BoolVar(&rrl, "rrl", true, "response rate limiting (loopback is exempt)")
	c.AddCommand(dsCmd())
	return c
}

// reloadZone re-reads the zone file on SIGHUP; a zone that no longer
// loads is logged and the previous one keeps answering.
func reloadZone(srv *dns.Server, cfg *dns.Config, log *slog.Logger) {
	zs, err := dns.Build(cfg, nil)
	if err != nil {
		log.Error("SIGHUP: zone rejected; still serving the previous one", "zone", cfg.Zones[0].File, "reason", err.Error())
		return
	}
	srv.Apply(cfg, zs)
	log.Info("SIGHUP: zone reloaded", "zone", cfg.Zones[0].File)
}

func dsCmd() *cobra.Command {
	var zone, key, cfgPath string
	c := &cobra.Command{
		Use:   "ds --zone ORIGIN (--key PREFIX | -c levee.yaml)",
		Short: "Print the DS record to publish in the parent zone of a signed zone",
		Long: `Print the DS record (SHA-256) of a signed zone's key, for its parent zone.
The key is read from PREFIX.key/PREFIX.private, or from the zone's
dnssec.key_file in the config file; it is generated there if missing.

  levee dns ds --zone example.com. -c levee.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if zone == "" {
				return usageError{fmt.Errorf("ds needs --zone ORIGIN")}
			}
			if key == "" && cfgPath != "" {
				src, err := os.ReadFile(cfgPath)
				if err != nil {
					return usageError{err}
				}
				p, err := config.Load(cfgPath, src)
				if err != nil {
					return usageError{err}
				}
				for _, z := range p.Config.DNS.Zones {
					if strings.EqualFold(strings.TrimSuffix(z.Origin, "."), strings.TrimSuffix(zone, ".")) && z.DNSSEC != nil {
						key = z.DNSSEC.KeyFile
					}
				}
			}
			if key == "" {
				return usageError{fmt.Errorf("no key: give --key PREFIX, or -c with a zone that has dnssec.key_file")}
			}
			ds, err := dns.DS(zone, key)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), ds)
			return nil
		},
	}
	c.Flags().StringVar(&zone, "zone", "", "zone origin, e.g. example.com.")
	c.Flags().StringVar(&key, "key", "", "key file prefix (PREFIX.key, PREFIX.private)")
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "config file naming the zone's dnssec.key_file")
	return c
}
