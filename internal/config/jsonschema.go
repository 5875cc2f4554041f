package config

import (
	"reflect"

	"go.yaml.in/yaml/v3"
)

// JSONSchema describes the config file as a JSON Schema (draft 2020-12),
// generated from the Go types by their yaml tags, so it can never name a
// key the decoder does not know: editors complete and check keys with it.
// It checks keys and types, not bounds (levee validate does).
func JSONSchema() map[string]any {
	s := schemaOf(reflect.TypeOf(Config{}), map[reflect.Type]bool{})
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["title"] = "levee config"
	return s
}

var unmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func schemaOf(t reflect.Type, seen map[reflect.Type]bool) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(Duration(0)):
		return map[string]any{"type": "string", "description": `a duration such as "10s" or "1m30s"`}
	case t == reflect.TypeOf(Size(0)):
		return map[string]any{"type": []string{"string", "integer"}, "description": `bytes, or a size such as "64KiB"`}
	case reflect.PointerTo(t).Implements(unmarshaler):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), seen)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), seen)}
	case reflect.Struct:
		if seen[t] {
			return map[string]any{"type": "object"} // a recursive type: keys unchecked below here
		}
		seen[t] = true
		defer delete(seen, t)
		props := map[string]any{}
		for name, ft := range fieldsOf(t) {
			props[name] = schemaOf(ft, seen)
		}
		return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	}
	return map[string]any{}
}
