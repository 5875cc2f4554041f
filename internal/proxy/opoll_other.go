//go:build !linux

package proxy

// Without epoll, origin connections are peeked before reuse and read
// directly after a request is written (see opoll_linux.go).
type originPoll struct{}

type pollState struct{}

func sharedOriginPoll() *originPoll { return nil }

func (p *originPoll) register(c *h1conn)    {}
func (p *originPoll) unregister(c *h1conn)  {}
func (p *originPoll) waitAnswer(c *h1conn)  {}
func (p *originPoll) quiet(c *h1conn) bool  { return false }
func (p *originPoll) settle(c *h1conn) bool { return true }
func (p *originPoll) interrupt(c *h1conn)   {}
func (p *originPoll) clearEvent(c *h1conn)  {}
