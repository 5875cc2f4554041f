// Command levee is a self-hosted internet edge. See the README.
package main

import (
	"os"

	"levee/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
