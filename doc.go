// Package levee is a self-hosted internet edge; the binary is cmd/levee and
// the code lives under internal/. This file exists for the README test.
package levee
