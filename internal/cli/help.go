package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"levee"
)

// helpTopic is one page of `levee help TOPIC`: a section of the README,
// from its heading to the next heading of level stopAt or higher.
type helpTopic struct {
	name    string
	heading string
	stopAt  int
	summary string
}

// helpTopics are the README's reference sections. A section added to the
// README between "## Commands" and "## Development" without a topic here
// fails TestEveryREADMEReferenceLineHasATopic.
var helpTopics = []helpTopic{
	{"commands", "## Commands", 2, "every command, exit codes, the systemd unit, signals"},
	{"config", "## Config reference", 3, "how the config file is decoded; durations and sizes"},
	{"top-level", "### Top level", 3, "admin, limits, timeouts, trusted proxies, log, reload"},
	{"listeners", "### `listeners[]`", 3, "listen addresses, TLS, HTTP/2 and HTTP/3"},
	{"sites", "### `sites[]`", 3, "sites and their hosts"},
	{"routes", "### `sites[].routes[]`", 3, "routes: path prefixes, origins, headers"},
	{"pools", "### `pools[]`", 3, "origin pools: URLs, weights, timeouts, origin TLS"},
	{"cache", "### Cache", 3, "the CDN cache and purges"},
	{"health", "### Health, balancing", 3, "health checks, balancing, retries, failover"},
	{"shield", "### Shield", 3, "rate limits, admission, waiting rooms, rules"},
	{"bots", "### Bots", 3, "bot score and proof-of-work challenge"},
	{"waf", "### WAF", 3, "the OWASP Core Rule Set"},
	{"cluster", "### Cluster", 3, "nodes sharing purges, limits and cache through Redis"},
	{"compress", "### Compression", 3, "gzip, brotli and zstd responses"},
	{"autotls", "### Automatic HTTPS", 3, "certificates from ACME"},
	{"dns", "### Authoritative DNS", 3, "zones, steering, DNSSEC"},
	{"proxy", "## Proxy behaviour", 2, "streaming, headers, origins, clients"},
	{"failures", "## How levee fails", 2, "what the client gets and what levee does when things break"},
	{"observability", "## Observability", 2, "admin API paths, metrics, logs"},
}

// topicSource returns the README text of a topic, heading included.
func topicSource(readme string, t helpTopic) (string, bool) {
	lines := strings.Split(readme, "\n")
	start, end := topicLines(lines, t)
	if start < 0 {
		return "", false
	}
	return strings.Join(lines[start:end], "\n"), true
}

// topicLines returns the topic's lines as [start, end), or start -1 when
// its heading is missing. Headings inside fenced code do not count.
func topicLines(lines []string, t helpTopic) (start, end int) {
	start, end = -1, len(lines)
	fenced := false
	for i, l := range lines {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
		}
		if fenced {
			continue
		}
		if start < 0 {
			if strings.HasPrefix(l, t.heading) {
				start = i
			}
			continue
		}
		if lvl := headingLevel(l); lvl > 0 && lvl <= t.stopAt {
			return start, i
		}
	}
	return start, end
}

func headingLevel(line string) int {
	n := len(line) - len(strings.TrimLeft(line, "#"))
	if n == 0 || n == len(line) || line[n] != ' ' {
		return 0
	}
	return n
}

func findTopic(name string) (helpTopic, bool) {
	for _, t := range helpTopics {
		if t.name == name {
			return t, true
		}
	}
	return helpTopic{}, false
}

func topicNames() string {
	names := make([]string, len(helpTopics))
	for i, t := range helpTopics {
		names[i] = t.name
	}
	return strings.Join(names, ", ")
}

func helpCmd() *cobra.Command {
	var man bool
	cmd := &cobra.Command{
		Use:   "help [TOPIC | COMMAND]",
		Short: "Reference pages (the README's), or a command's help",
		Long: "levee help lists the reference topics; levee help TOPIC prints one, from the same text as\n" +
			"the README. levee help COMMAND (or levee COMMAND --help) shows a command's flags.\n" +
			"levee help --man prints every topic as a man page: levee help --man > levee.1",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch {
			case man:
				return writeManPage(out, levee.README)
			case len(args) == 0:
				listTopics(out)
				return nil
			}
			if t, ok := findTopic(args[0]); ok {
				src, found := topicSource(levee.README, t)
				if !found {
					return fmt.Errorf("help topic %q: its README section %q is missing from this build", t.name, t.heading)
				}
				_, err := io.WriteString(out, renderMarkdown(src))
				return err
			}
			if c, _, err := cmd.Root().Find(args); err == nil && c != cmd.Root() && c != cmd {
				return c.Help()
			}
			return usageError{fmt.Errorf("no help topic %q; topics: %s (or a command's name)", args[0], topicNames())}
		},
	}
	cmd.Flags().BoolVar(&man, "man", false, "print every topic as a man page (roff)")
	return cmd
}

func listTopics(out io.Writer) {
	fmt.Fprintln(out, "levee help TOPIC prints one of these reference pages (the README's sections):")
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, t := range helpTopics {
		fmt.Fprintf(tw, "  %s\t%s\n", t.name, t.summary)
	}
	tw.Flush()
	fmt.Fprintln(out, "\nA command's flags: levee COMMAND --help (or levee help COMMAND).")
}

// writeManPage prints every topic as a section of a man page. The text is
// the plain-text help, kept as laid out (.nf), so the man page says
// exactly what `levee help TOPIC` says.
func writeManPage(out io.Writer, readme string) error {
	var b strings.Builder
	b.WriteString(".TH LEVEE 1 \"\" \"levee " + roffEscape(Version) + "\" \"levee manual\"\n")
	b.WriteString(".SH NAME\nlevee \\- a self-hosted internet edge in one binary\n")
	b.WriteString(".SH SYNOPSIS\n.B levee\n.I command\n[flags]\n")
	for _, t := range helpTopics {
		src, ok := topicSource(readme, t)
		if !ok {
			return fmt.Errorf("help topic %q: its README section %q is missing from this build", t.name, t.heading)
		}
		b.WriteString(".SH " + strings.ToUpper(strings.ReplaceAll(t.name, "-", " ")) + "\n.nf\n")
		for _, l := range strings.Split(strings.TrimRight(renderMarkdownWidth(src, manWidth), "\n"), "\n") {
			b.WriteString(roffEscape(l) + "\n")
		}
		b.WriteString(".fi\n")
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// roffEscape keeps a line of text from being read as a roff request or
// escape.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
