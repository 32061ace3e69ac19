package reports

import _ "embed"

//go:embed schema/report.schema.json
var schemaJSON []byte

// SchemaFile is the name of the JSON Schema published beside report.json;
// report.json's "$schema" names it, relative to the report.
const SchemaFile = "report.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of report.json, version
// SchemaVersion, as a fresh copy. It documents every field; the tests
// validate WriteJSON's output against it, and programs that load reports can
// do the same.
func Schema() []byte { return append([]byte(nil), schemaJSON...) }
