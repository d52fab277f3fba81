package cli

import (
	"encoding/json"
)

// ownJSON returns the JSON array of shoal's own objects (the Shoal key of
// each) from inspect's output, or out itself when it is not inspect's.
func ownJSON(out string) []byte {
	var views []struct{ Shoal json.RawMessage }
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		return []byte(out)
	}
	own := make([]json.RawMessage, 0, len(views))
	for _, v := range views {
		own = append(own, v.Shoal)
	}
	b, err := json.Marshal(own)
	if err != nil {
		return []byte(out)
	}
	return b
}
