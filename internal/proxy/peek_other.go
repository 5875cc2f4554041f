//go:build !unix

package proxy

func (c *h1conn) preparePeek() {}

// closedByPeer cannot peek here; a dead connection is caught by the retry
// on a fresh connection instead.
func (c *h1conn) closedByPeer() bool { return false }
