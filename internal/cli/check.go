package cli

import "levee/internal/app"

// checkFiles builds the whole generation (certificates, CA bundles) without
// opening any socket.
func checkFiles(name string, src []byte) error { return app.Check(name, src) }
