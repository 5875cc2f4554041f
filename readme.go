package levee

import _ "embed"

// README is this repository's README, built into the binary so that
// `levee help TOPIC` prints the reference sections from the same text the
// README shows: the two cannot drift apart.
//
//go:embed README.md
var README string
