package compress_test

import (
	"testing"

	"levee/internal/leveetest"
)

func TestREADMEExamples(t *testing.T) { leveetest.CheckREADMEExamples(t, "README.md") }
