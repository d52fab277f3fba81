package state

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-memdb"
	"github.com/shoalproject/shoal/api"
)

const (
	tableServices = "services"
	tableTasks    = "tasks"
	tableNodes    = "nodes"
)

// slotIndex indexes a task by service ID and slot (replicated) or node
// (global), so a reconciler finds a slot's tasks in one lookup.
type slotIndex struct{}

func (slotIndex) FromObject(obj any) (bool, []byte, error) {
	t := obj.(*api.Task)
	return true, []byte(slotKey(t.ServiceID, t.Slot, t.NodeID) + "\x00"), nil
}

func (slotIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("slot index takes one key argument")
	}
	return []byte(args[0].(string) + "\x00"), nil
}

func slotKey(serviceID string, slot uint64, nodeID string) string {
	if slot == 0 {
		return serviceID + "/n/" + nodeID
	}
	return fmt.Sprintf("%s/s/%d", serviceID, slot)
}

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableServices: {
			Name: tableServices,
			Indexes: map[string]*memdb.IndexSchema{
				"id":   {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
				"name": {Name: "name", Unique: true, Indexer: serviceNameIndex{}},
			},
		},
		tableTasks: {
			Name: tableTasks,
			Indexes: map[string]*memdb.IndexSchema{
				"id":      {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
				"service": {Name: "service", Indexer: &memdb.StringFieldIndex{Field: "ServiceID"}},
				"node":    {Name: "node", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "NodeID"}},
				"slot":    {Name: "slot", Indexer: slotIndex{}},
			},
		},
		tableNodes: {
			Name: tableNodes,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			},
		},
	}}
}

// serviceNameIndex indexes services by their spec's name, case-folded.
type serviceNameIndex struct{}

func (serviceNameIndex) FromObject(obj any) (bool, []byte, error) {
	return true, []byte(strings.ToLower(obj.(*api.Service).Spec.Name) + "\x00"), nil
}

func (serviceNameIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("name index takes one argument")
	}
	return []byte(strings.ToLower(args[0].(string)) + "\x00"), nil
}
