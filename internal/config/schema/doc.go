// Package schema holds what every config section is written with: the
// Duration and Size value types, the error list a section's validation
// fills, and the small checks many sections share. internal/config composes
// the sections into one document; each capability package owns its own
// section and imports only this package, so no capability depends on
// internal/config and config can depend on all of them.
package schema
