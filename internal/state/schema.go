package state

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/go-memdb"
	"github.com/shoalproject/shoal/api"
)

const (
	tableServices = "services"
	tableNodes    = "nodes"
	tableConfigs  = "configs"
	tableSecrets  = "secrets"
	tableNetworks = "networks"
	tableHints    = "hints"
	tableCluster  = "cluster"
)

// slotKey names a task's slot: the service ID and slot (replicated) or
// node (global), so a reconciler finds a slot's tasks in one lookup of
// the task table (tasktable.go). A service's tasks are those whose
// slot key begins with its ID and "/": the tasks table needs no service
// index of its own (issue 15).
func slotKey(serviceID string, slot uint64, nodeID string) string {
	if slot == 0 {
		return serviceID + "/n/" + nodeID
	}
	return serviceID + "/s/" + strconv.FormatUint(slot, 10)
}

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableServices: {
			Name: tableServices,
			Indexes: map[string]*memdb.IndexSchema{
				"id":   {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
				"name": {Name: "name", Unique: true, Indexer: serviceNameIndex{}},
				"addr": {Name: "addr", AllowMissing: true, Indexer: keysIndex{serviceVIPKeys}},
				"port": {Name: "port", AllowMissing: true, Indexer: keysIndex{servicePortKeys}},
			},
		},
		tableNodes: {
			Name: tableNodes,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			},
		},
		tableConfigs:  namedTable(tableConfigs),
		tableSecrets:  namedTable(tableSecrets),
		tableNetworks: networksTable(),
		tableHints: {
			Name: tableHints,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
			},
		},
		tableCluster: {
			Name: tableCluster,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			},
		},
	}}
}

// namedTable is the schema of a table of named objects (configs, secrets,
// networks): unique IDs, and unique names compared case-sensitively, as
// Swarm does.
func namedTable(name string) *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: name,
		Indexes: map[string]*memdb.IndexSchema{
			"id":   {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			"name": {Name: "name", Unique: true, Indexer: specNameIndex{}},
		},
	}
}

// specNameIndex indexes a config, secret or network by its spec's name,
// exactly as written.
type specNameIndex struct{}

func (specNameIndex) FromObject(obj any) (bool, []byte, error) {
	name, ok := specName(obj)
	if !ok {
		return false, nil, fmt.Errorf("name index: unexpected %T", obj)
	}
	return true, []byte(name + "\x00"), nil
}

// specName is the spec's name of a config, secret or network.
func specName(obj any) (string, bool) {
	switch o := obj.(type) {
	case *api.Config:
		return o.Spec.Name, true
	case *api.Secret:
		return o.Spec.Name, true
	case *api.Network:
		return o.Spec.Name, true
	}
	return "", false
}

func (specNameIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("name index takes one argument")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("name index: argument %T, want string", args[0])
	}
	return []byte(s + "\x00"), nil
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
