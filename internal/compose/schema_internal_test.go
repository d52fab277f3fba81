package compose

import "testing"

// Schema checks switch off quietly if the embedded compose-spec schema
// stops compiling (a dependency bump): this test is what notices.
func TestEmbeddedSchemaCompiles(t *testing.T) {
	if composeSchema() == nil || schemaErr != nil {
		t.Fatalf("the compose-spec schema does not compile: %v", schemaErr)
	}
}
