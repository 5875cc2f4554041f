package autotls

import (
	"context"

	"github.com/caddyserver/certmagic"
)

// Without an email in the config, levee's ACME account has no contact.
// certmagic's PreCheck would look for an address anyway: in a variable of
// the whole process that any earlier issuer set, then in the name of the
// newest account directory in storage. The account of a config without an
// email lives in a directory named "default", so a node that looks while
// another node of its cluster is still writing that account (or that finds
// an account left half-written) takes "default" for an address, registers
// "mailto:default", which a CA refuses, and keeps that address in the
// process-wide variable until it restarts. Every other node and reload in
// the process then registers it too.
//
// So an issuer without an email skips certmagic's PreCheck. What else it
// checks, that a public CA can issue for each name, ManagedNames has
// already made true (realName).

// noEmailIssuer is certmagic's ACME issuer for a config without an email.
// Wrapping it costs one thing: certmagic tells the CA which certificate a
// renewal replaces (ARI) only for its own issuer type.
type noEmailIssuer struct{ *certmagic.ACMEIssuer }

// PreCheck leaves the account without a contact.
func (noEmailIssuer) PreCheck(context.Context, []string, bool) error { return nil }

// accountPreCheck is certmagic's PreCheck for an issuer with an email, and
// nothing for one without.
func accountPreCheck(ctx context.Context, iss *certmagic.ACMEIssuer, names []string, interactive bool) error {
	if iss.Email == "" {
		return nil
	}
	return iss.PreCheck(ctx, names, interactive)
}

// issuerFor is iss as certmagic should see it: itself when the config
// gives an email, wrapped when it gives none.
func issuerFor(iss *certmagic.ACMEIssuer) certmagic.Issuer {
	if iss.Email == "" {
		return noEmailIssuer{iss}
	}
	return iss
}
