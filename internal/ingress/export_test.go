package ingress

// IdleConnsAlive counts the fast path's idle backend connections of the
// current table, and those of them that pass the liveness check.
func IdleConnsAlive(t *Table) (alive, total int) {
	for _, rt := range t.snap.Load().routes {
		for _, b := range rt.pool.backends {
			p := b.conns
			p.mu.Lock()
			for _, bc := range p.idle {
				total++
				if bc.alive() {
					alive++
				}
			}
			p.mu.Unlock()
		}
	}
	return alive, total
}
