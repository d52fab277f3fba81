package scheduler

import (
	"strings"

	"github.com/shoalproject/shoal/api"
)

// pipeline runs the filters in order. The order is cheapest and most
// fundamental first, so a node is counted against the first reason it
// fails and the explanation names the reason an operator fixes first: a
// node that is down is reported as down, not also as short of memory, and
// a Windows service on a Linux node as an unsupported platform, not as a
// missing runtime.
type pipeline struct {
	filters []filter
	active  []filter
	failed  map[filter]int
}

func newPipeline() *pipeline {
	return &pipeline{filters: []filter{
		&nodeIDFilter{},
		readyFilter{},
		&platformFilter{},
		&runtimeFilter{},
		networksFilter{},
		&constraintFilter{},
		&resourceFilter{},
		&maxReplicasFilter{},
		&hostPortFilter{},
	}}
}

// setTask prepares every filter for t and clears the counts.
func (p *pipeline) setTask(t *api.Task) {
	p.active = p.active[:0]
	p.failed = map[filter]int{}
	for _, f := range p.filters {
		if f.setTask(t) {
			p.active = append(p.active, f)
		}
	}
}

// check runs node n through the filters, counting the first failure.
func (p *pipeline) check(n *nodeInfo) bool {
	for _, f := range p.active {
		if !f.check(n) {
			p.failed[f]++
			return false
		}
	}
	return true
}

// explain joins the reasons nodes were refused, in pipeline order.
func (p *pipeline) explain() string {
	var parts []string
	for _, f := range p.active {
		if c := p.failed[f]; c > 0 {
			if s := f.explain(c); s != "" {
				parts = append(parts, s)
			}
		}
	}
	if len(parts) == 0 {
		return "no suitable node"
	}
	return "no suitable node (" + strings.Join(parts, "; ") + ")"
}

// fits reports whether node n passes the filters, without counting.
func (p *pipeline) fits(n *nodeInfo) bool {
	for _, f := range p.active {
		if !f.check(n) {
			return false
		}
	}
	return true
}
