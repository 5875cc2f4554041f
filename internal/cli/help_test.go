package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"levee"
)

func TestHelpListsTopicsAndEveryTopicRenders(t *testing.T) {
	code, list, stderr := run("help")
	if code != ExitOK {
		t.Fatalf("levee help: exit %d %q", code, stderr)
	}
	for _, topic := range helpTopics {
		if !strings.Contains(list, "  "+topic.name+" ") {
			t.Errorf("levee help does not list %q:\n%s", topic.name, list)
		}
		code, page, stderr := run("help", topic.name)
		if code != ExitOK {
			t.Errorf("levee help %s: exit %d %q", topic.name, code, stderr)
			continue
		}
		heading := inline(strings.TrimLeft(topic.heading, "# "))
		if !strings.HasPrefix(page, heading) || len(strings.Split(page, "\n")) < 5 {
			t.Errorf("levee help %s does not start with %q or is nearly empty:\n%s", topic.name, heading, page)
		}
		for i, l := range strings.Split(page, "\n") {
			if n := len([]rune(l)); n > helpWidth && !strings.HasPrefix(l, "    ") && len(strings.Fields(l)) > 1 {
				t.Errorf("levee help %s: line %d is %d columns wide: %q", topic.name, i+1, n, l)
			}
		}
	}
}

func TestHelpUnknownTopicExits2ListingTopics(t *testing.T) {
	code, _, stderr := run("help", "nosuch")
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d", code, ExitUsage)
	}
	for _, want := range []string{`no help topic "nosuch"`, "commands, config, top-level", "observability"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q: %q", want, stderr)
		}
	}
	if code, out, _ := run("help", "serve"); code != ExitOK || !strings.Contains(out, "Usage:") {
		t.Errorf("levee help serve (a command): exit %d %q", code, out)
	}
}

// The help pages are the README's own text, built in: this checks that the
// binary's copy is the README and that rendering loses no word of it, so
// the README reference and `levee help` cannot say different things.
func TestHelpTopicsKeepEveryWordOfTheREADME(t *testing.T) {
	onDisk, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(onDisk) != levee.README {
		t.Fatal("the README built into levee differs from README.md")
	}
	for _, topic := range helpTopics {
		src, ok := topicSource(levee.README, topic)
		if !ok {
			t.Errorf("topic %s: no README heading %q", topic.name, topic.heading)
			continue
		}
		want := words(withoutTableHeaders(src))
		got := words(renderMarkdown(src))
		if i := missingFrom(want, got); i >= 0 {
			t.Errorf("levee help %s loses README words from %q on", topic.name, strings.Join(want[i:min(i+8, len(want))], " "))
		}
	}
}

// TestEveryREADMEReferenceLineHasATopic fails when a section is added to
// the README's reference (from "## Commands" to "## Development") without
// a help topic that prints it.
func TestEveryREADMEReferenceLineHasATopic(t *testing.T) {
	lines := strings.Split(levee.README, "\n")
	covered := make([]bool, len(lines))
	for _, topic := range helpTopics {
		start, end := topicLines(lines, topic)
		for i := max(start, 0); start >= 0 && i < end; i++ {
			covered[i] = true
		}
	}
	from, to := indexOf(lines, "## Commands"), indexOf(lines, "## Development")
	if from < 0 || to < 0 {
		t.Fatal(`the README lacks "## Commands" or "## Development"`)
	}
	for i := from; i < to; i++ {
		if !covered[i] && strings.TrimSpace(lines[i]) != "" {
			t.Errorf("README.md:%d is in no help topic: %q", i+1, lines[i])
		}
	}
}

func TestHelpManPage(t *testing.T) {
	code, page, stderr := run("help", "--man")
	if code != ExitOK || !strings.HasPrefix(page, ".TH LEVEE 1") {
		t.Fatalf("exit %d %q %.80q", code, stderr, page)
	}
	for _, topic := range helpTopics {
		if !strings.Contains(page, "\n.SH "+strings.ToUpper(strings.ReplaceAll(topic.name, "-", " "))+"\n") {
			t.Errorf("man page lacks a section for %s", topic.name)
		}
	}
	for i, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, ".") && !regexp.MustCompile(`^\.(TH|SH|nf|fi|B|I) ?`).MatchString(l) {
			t.Errorf("man page line %d would be read as a roff request: %q", i+1, l)
		}
	}
}

func TestRenderMarkdown(t *testing.T) {
	got := renderMarkdown("### `x[]`\n\nSome **bold** `code`\nwrapped.\n\n| key | default | meaning |\n|---|---|---|\n| `a` | `1` | one \\| two |\n\n- item\n  more\n\n```sh\n.levee  x\n```\n")
	want := "x[]\n---\n\nSome bold code wrapped.\n\na\n      default: 1\n      one | two\n  - item more\n\n    .levee  x\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

var wordRE = regexp.MustCompile(`[\p{L}\p{N}_]+`)

func words(s string) []string { return wordRE.FindAllString(s, -1) }

// withoutTableHeaders drops each table's header and separator rows, which
// the plain text prints as labels rather than as a row, and the fences of
// code blocks (their language is not shown).
func withoutTableHeaders(src string) string {
	lines := strings.Split(src, "\n")
	var keep []string
	for i, l := range lines {
		isSep := strings.HasPrefix(l, "|---") || strings.HasPrefix(l, "| ---")
		isHeader := i+1 < len(lines) && (strings.HasPrefix(lines[i+1], "|---") || strings.HasPrefix(lines[i+1], "| ---"))
		if !isSep && !isHeader && !strings.HasPrefix(l, "```") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// missingFrom returns the index of the first word of want that does not
// appear, in order, in got; -1 when all do.
func missingFrom(want, got []string) int {
	j := 0
	for i, w := range want {
		for j < len(got) && got[j] != w {
			j++
		}
		if j == len(got) {
			return i
		}
		j++
	}
	return -1
}

func indexOf(lines []string, line string) int {
	for i, l := range lines {
		if l == line {
			return i
		}
	}
	return -1
}

// The README promises `levee completion bash|zsh|fish|powershell`.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, stderr := run("completion", shell)
		if code != ExitOK || !strings.Contains(out, "levee") || len(out) < 200 {
			t.Errorf("levee completion %s: exit %d, %d bytes, %q", shell, code, len(out), stderr)
		}
	}
	if code, _, stderr := run("completion", "tcsh"); code != ExitUsage || !strings.Contains(stderr, `no completion for shell "tcsh"`) {
		t.Errorf("levee completion tcsh: exit %d %q, want %d", code, stderr, ExitUsage)
	}
	if code, _, _ := run("completion"); code != ExitUsage {
		t.Errorf("levee completion: exit %d, want %d", code, ExitUsage)
	}
}
