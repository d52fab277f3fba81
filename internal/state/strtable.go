package state

import "github.com/shoalproject/shoal/api"

// stringTable shares the strings that many tasks repeat (the node a task
// runs on, the messages of its statuses), each otherwise its own copy
// decoded from its log entry: about 95 of a running task's 2,100 bytes
// (issue 15). Only the FSM's writer uses it, under the store's lock, and
// a snapshot's restore, which fills a table of its own. It is bounded:
// when full it starts again empty, so strings that do not repeat (errors
// naming a task) cannot grow it.
type stringTable struct {
	m map[string]string
}

const (
	// maxSharedStrings bounds the table's entries, maxSharedString the
	// length of a string it keeps.
	maxSharedStrings = 16384
	maxSharedString  = 128
)

// share returns s, or an equal string the table holds.
func (st *stringTable) share(s string) string {
	if s == "" || len(s) > maxSharedString {
		return s
	}
	if v, ok := st.m[s]; ok {
		return v
	}
	if st.m == nil || len(st.m) >= maxSharedStrings {
		st.m = make(map[string]string, 64)
	}
	st.m[s] = s
	return s
}

// shareStatus shares the strings of a status that repeat across tasks
// (not RuntimeID, each task's own).
func (st *stringTable) shareStatus(s *api.TaskStatus) {
	s.Message = st.share(s.Message)
	s.Err = st.share(s.Err)
	s.Health = st.share(s.Health)
}

// shareTask shares the repeated strings of t, a task decoded from a
// snapshot that nothing else holds yet (it is changed in place).
func (st *stringTable) shareTask(t *api.Task) {
	t.NodeID = st.share(t.NodeID)
	st.shareStatus(&t.Status)
	for i := range t.History {
		st.shareStatus(&t.History[i])
	}
}
