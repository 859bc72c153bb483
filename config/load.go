package config

import (
	"encoding"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// LookupEnv finds an environment variable; os.LookupEnv in production, a map in tests.
type LookupEnv func(name string) (string, bool)

// Load builds the effective configuration: Default, then the YAML file at
// path (skipped when path is empty), then the environment, then Validate.
func Load(path string, env LookupEnv) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		if err := decodeYAML(data, &cfg); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, env); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// YAML renders cfg as a YAML document (secrets included; callers redact).
func (c Config) YAML() ([]byte, error) {
	return yaml.Marshal(c)
}

// Redacted returns a copy with secrets replaced, for printing and logging.
func (c Config) Redacted() Config {
	hide := func(s *string) {
		if *s != "" {
			*s = "<redacted>"
		}
	}
	hide(&c.TURN.Secret)
	hide(&c.Admin.Token)
	hide(&c.Auth.JWTSecret)
	hide(&c.Moderation.IPHashKey)
	c.Cluster = c.Cluster.Redacted()
	return c
}

// EnvNames lists every environment variable the configuration reads, with
// its YAML path, in declaration order.
func EnvNames() [][2]string {
	var out [][2]string
	walk(reflect.ValueOf(&Config{}).Elem(), "", func(_ reflect.Value, yamlPath, env string) error {
		out = append(out, [2]string{env, yamlPath})
		return nil
	})
	return out
}

// applyEnv overrides fields from the environment variables named in their env tags.
func applyEnv(cfg *Config, env LookupEnv) error {
	return walk(reflect.ValueOf(cfg).Elem(), "", func(f reflect.Value, yamlPath, name string) error {
		raw, ok := env(name)
		if !ok {
			return nil
		}
		if err := setFromString(f, raw); err != nil {
			return fmt.Errorf("environment %s (%s): %w", name, yamlPath, err)
		}
		return nil
	})
}

// walk calls fn for every leaf field with an env tag, depth first.
func walk(v reflect.Value, prefix string, fn func(f reflect.Value, yamlPath, env string) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		key := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		if name := sf.Tag.Get("env"); name != "" {
			if err := fn(v.Field(i), path, name); err != nil {
				return err
			}
			continue
		}
		if sf.Type.Kind() == reflect.Struct {
			if err := walk(v.Field(i), path, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// setFromString parses raw into the field's type.
func setFromString(f reflect.Value, raw string) error {
	if u, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(raw))
	}
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("want a duration like 10s: %w", err)
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(raw)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("want true or false, got %q", raw)
		}
		f.SetBool(b)
	case f.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", raw)
		}
		f.SetInt(int64(n))
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		var list []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
		f.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported field type %s", f.Type())
	}
	return nil
}
