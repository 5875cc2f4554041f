package app

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/validate/*.golden from the current output")

// TestValidateGolden pins the exact messages `levee validate` prints for bad
// configs (file, line, YAML path, wording), so that moving code between
// packages cannot change what a user reads. Each testdata/validate/NAME.yaml
// is checked by Check, the function behind `levee validate`, and its error
// text compared with NAME.golden. Run with -update to accept new output
// after a deliberate wording change, and read the diff before committing.
func TestValidateGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/validate/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			err = Check(name+".yaml", src)
			if err == nil {
				t.Fatalf("%s validated; every golden case is a bad config", f)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("validate output changed\n--- want\n%s--- got\n%s", want, got)
			}
		})
	}
}
