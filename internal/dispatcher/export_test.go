package dispatcher

// WaitingReports is how many sessions' report batches wait for an entry.
func (d *Dispatcher) WaitingReports() int {
	d.reports.mu.Lock()
	defer d.reports.mu.Unlock()
	return len(d.reports.waiting)
}
