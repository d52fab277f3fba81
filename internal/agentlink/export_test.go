package agentlink

// RoutesStreamsBehind counts the routes streams whose queue overflowed
// (their changes dropped, the stream ending once its pending write
// does).
func (s *Server) RoutesStreamsBehind() int {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	n := 0
	if s.hub.run != nil {
		for st := range s.hub.run.streams {
			st.mu.Lock()
			if st.err != nil {
				n++
			}
			st.mu.Unlock()
		}
	}
	return n
}
