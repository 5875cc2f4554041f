package cache

// The cluster capability carries purges between nodes through these two
// calls, so it needs nothing of the cache's internals.

// OnPurge sets f to be called after every purge this node's admin API
// applied successfully (nil: none). The cluster sends it to the other
// nodes; f must not block for long, since the admin call waits for it.
func (c *Capability) OnPurge(f func(Purge)) {
	if f == nil {
		c.observer.Store(nil)
		return
	}
	c.observer.Store(&f)
}

// ApplyRemotePurge applies a purge that came from another node. It is not
// passed to the OnPurge observer, so purges do not echo. With no cache
// store open (no route caches) it only checks p.
func (c *Capability) ApplyRemotePurge(p Purge) (int, error) {
	c.mu.Lock()
	st := c.store
	c.mu.Unlock()
	if st == nil {
		_, err := p.Validate()
		return 0, err
	}
	return st.Purge(p)
}

func (c *Capability) notifyPurge(p Purge) {
	if f := c.observer.Load(); f != nil {
		(*f)(p)
	}
}
