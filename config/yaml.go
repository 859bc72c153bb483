package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decodeYAML decodes a YAML document over cfg, keeping the values of keys it
// does not set. It is strict: an unknown key, a repeated key, or a value of
// the wrong type is an error that names the key's full path (media.udp_ports)
// and its line.
func decodeYAML(data []byte, cfg *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err // syntax errors: yaml names the line
	}
	if len(doc.Content) == 0 {
		return nil // an empty file or only comments
	}
	d := yamlDecoder{open: map[*yaml.Node]bool{}}
	return d.section(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
}

// yamlDecoder walks a document's nodes beside the Config struct. open holds
// the mappings being decoded, so a merge key that includes its own section
// (through an alias) is an error instead of an endless loop.
type yamlDecoder struct {
	open map[*yaml.Node]bool
}

// section decodes the mapping n into the struct v, a section of the
// configuration whose path is path ("" for the top level). Merge keys
// ("<<: *anchor") apply first, so the section's own keys override them.
func (d yamlDecoder) section(n *yaml.Node, v reflect.Value, path string) error {
	n = resolveAlias(n)
	if n.Tag == "!!null" {
		return nil // "media:" with nothing under it changes nothing
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s: want the section's keys, one per line, got %s", n.Line, sectionName(path), describeNode(n))
	}
	if d.open[n] {
		return fmt.Errorf("line %d: %s: a merge key includes the section itself", n.Line, sectionName(path))
	}
	d.open[n] = true
	defer delete(d.open, n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "<<" {
			if err := d.merge(n.Content[i+1], v, path); err != nil {
				return err
			}
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Value == "<<" {
			continue
		}
		if first, ok := seen[key.Value]; ok {
			return fmt.Errorf("line %d: %s: set again (first at line %d)", key.Line, joinPath(path, key.Value), first)
		}
		seen[key.Value] = key.Line
		if err := d.field(key, value, v, path); err != nil {
			return err
		}
	}
	return nil
}

// field decodes value into the field of struct v (the section at
// path) named by key: a nested section, or a setting (a field with an env tag).
func (d yamlDecoder) field(key, value *yaml.Node, v reflect.Value, path string) error {
	keyPath := joinPath(path, key.Value)
	sf, ok := fieldByKey(v.Type(), key.Value)
	if !ok {
		if near := closest(key.Value, keysOf(v.Type())); near != "" {
			return fmt.Errorf("line %d: unknown key %s; did you mean %s?", key.Line, keyPath, joinPath(path, near))
		}
		return fmt.Errorf("line %d: unknown key %s", key.Line, keyPath)
	}
	f := v.FieldByIndex(sf.Index)
	if sf.Tag.Get("env") == "" && f.Kind() == reflect.Struct {
		return d.section(value, f, keyPath)
	}
	if err := value.Decode(f.Addr().Interface()); err != nil {
		return fmt.Errorf("line %d: %s: %s", value.Line, keyPath, yamlReason(err))
	}
	return nil
}

// merge applies a merge key's value: one mapping or a list of them.
func (d yamlDecoder) merge(value *yaml.Node, v reflect.Value, path string) error {
	value = resolveAlias(value)
	if value.Kind != yaml.SequenceNode {
		return d.section(value, v, path)
	}
	for _, m := range value.Content {
		if err := d.section(m, v, path); err != nil {
			return err
		}
	}
	return nil
}

// fieldByKey finds the field of struct type t whose yaml tag is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if sf := t.Field(i); yamlKey(sf) == key {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}

// keysOf lists the YAML keys of struct type t.
func keysOf(t reflect.Type) []string {
	keys := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		keys = append(keys, yamlKey(t.Field(i)))
	}
	return keys
}

func yamlKey(sf reflect.StructField) string {
	return strings.Split(sf.Tag.Get("yaml"), ",")[0]
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func sectionName(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

// describeNode names what a node holds, for errors: "a list", "the value 3".
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return fmt.Sprintf("the value %q", n.Value)
}

// yamlReason is the reason in a decoding error without yaml's own "line N:"
// prefix and headline, which the caller replaces with the key's path.
func yamlReason(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		reason := te.Errors[0]
		if _, rest, ok := strings.Cut(reason, ": "); ok && strings.HasPrefix(reason, "line ") {
			reason = rest
		}
		return reason
	}
	return err.Error()
}
