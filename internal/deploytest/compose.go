package deploytest

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

// Service is what the tests read of a compose service.
type Service struct {
	// Environment is the service's environment, anchors merged and
	// variables interpolated.
	Environment map[string]string
	// NetworkMode is the service's network_mode ("host": the container
	// shares the host's network, so it is its process as far as the network
	// can tell).
	NetworkMode string
}

// ReadCompose loads the compose file at path with the loader docker compose
// itself uses (compose-spec's compose-go): the file is checked against the
// compose specification's schema, its anchors are merged and its variables
// interpolated from vars alone (as the operator exports them; a
// ${NAME:?message} missing from vars is an error naming it), and every
// service's depends_on must name a service of the file.
func ReadCompose(path string, vars map[string]string) (map[string]Service, error) {
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithName("tandem"), cli.WithEnv(env),
		cli.WithWorkingDirectory(filepath.Dir(path)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	services := make(map[string]Service, len(project.Services))
	for name, svc := range project.Services {
		s := Service{Environment: map[string]string{}, NetworkMode: svc.NetworkMode}
		for k, v := range svc.Environment {
			if v != nil {
				s.Environment[k] = *v
			}
		}
		services[name] = s
	}
	return services, nil
}
