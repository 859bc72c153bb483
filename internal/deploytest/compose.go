package deploytest

import (
	"fmt"
	"os"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// Service is what the tests read of a compose service.
type Service struct {
	// Environment is the service's environment, YAML anchors merged.
	Environment map[string]string `yaml:"environment"`
}

// required is compose's ${NAME:?message}: a variable the operator must set.
var required = regexp.MustCompile(`\$\{(\w+):\?[^}]*\}`)

// ReadCompose reads the services of the compose file at path, with each
// ${NAME:?message} replaced by vars[NAME], as the operator exports them.
func ReadCompose(path string, vars map[string]string) (map[string]Service, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	data = required.ReplaceAllFunc(data, func(m []byte) []byte {
		return []byte(vars[string(required.FindSubmatch(m)[1])])
	})
	var compose struct {
		Services map[string]Service `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return compose.Services, nil
}
