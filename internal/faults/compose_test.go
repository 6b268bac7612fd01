package faults

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// composeFile is the part of docker-compose.yml the checks below read.
type composeFile struct {
	Services map[string]struct {
		Image            string            `yaml:"image"`
		Build            any               `yaml:"build"`
		Command          []string          `yaml:"command"`
		ContainerName    string            `yaml:"container_name"`
		Ports            []string          `yaml:"ports"`
		Environment      map[string]string `yaml:"environment"`
		DependsOn        map[string]any    `yaml:"depends_on"`
		StopGracePeriod  string            `yaml:"stop_grace_period"`
		Healthcheck      map[string]any    `yaml:"healthcheck"`
		Deploy           map[string]any    `yaml:"deploy"`
		NetworkModeField string            `yaml:"network_mode"`
	} `yaml:"services"`
}

func TestComposeRunsTheWholeSystemAndScalesWorkers(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, name := range []string{"postgres", "redis", "mailpit", "api", "worker"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("no %s service", name)
		}
	}
	for _, name := range []string{"postgres", "redis"} {
		if c.Services[name].Healthcheck == nil {
			t.Errorf("%s has no healthcheck for assistd to wait on", name)
		}
	}

	w := c.Services["worker"]
	if w.ContainerName != "" || len(w.Ports) > 0 || w.NetworkModeField == "host" {
		t.Errorf("worker cannot scale: container_name %q, ports %v, network_mode %q", w.ContainerName, w.Ports, w.NetworkModeField)
	}
	if strings.Join(w.Command, " ") != "serve --roles worker" {
		t.Errorf("worker runs %v, want serve --roles worker", w.Command)
	}
	a := c.Services["api"]
	if !slices.Contains(strings.Split(roles(a.Command), ","), "api") || len(a.Ports) == 0 {
		t.Errorf("api runs %v with ports %v; want the api role, published", a.Command, a.Ports)
	}
	if a.Environment["ASSISTD_HTTP_ADDR"] != "0.0.0.0:8080" {
		t.Errorf("api listens on %q: inside a container it must listen on all interfaces", a.Environment["ASSISTD_HTTP_ADDR"])
	}

	for _, name := range []string{"api", "worker"} {
		s := c.Services[name]
		if s.Build == nil && s.Image == "" {
			t.Errorf("%s has neither build nor image", name)
		}
		for _, dep := range []string{"postgres", "redis"} {
			if _, ok := s.DependsOn[dep]; !ok {
				t.Errorf("%s does not wait for %s", name, dep)
			}
		}
		env := s.Environment
		for key, host := range map[string]string{"ASSISTD_DATABASE_URL": "@postgres:", "ASSISTD_REDIS_URL": "//redis:", "ASSISTD_SMTP_URL": "//mailpit:"} {
			if !strings.Contains(env[key], host) {
				t.Errorf("%s: %s=%q does not name the %s service", name, key, env[key], strings.Trim(host, "@/:"))
			}
		}
		for _, key := range []string{"ASSISTD_SECRET_KEYS", "ASSISTD_API_TOKEN", "ASSISTD_STAFF_TOKEN"} {
			if !strings.HasPrefix(env[key], "${"+key+":?") {
				t.Errorf("%s: %s must come from the environment, required, with no default in the file", name, key)
			}
		}
		// docker stop sends SIGTERM then SIGKILL after the grace period: in-flight work needs
		// the whole shutdown timeout.
		grace, err1 := time.ParseDuration(s.StopGracePeriod)
		shutdown, err2 := time.ParseDuration(env["ASSISTD_SHUTDOWN_TIMEOUT"])
		if err1 != nil || err2 != nil || grace <= shutdown {
			t.Errorf("%s: stop_grace_period %q must exceed ASSISTD_SHUTDOWN_TIMEOUT %q", name, s.StopGracePeriod, env["ASSISTD_SHUTDOWN_TIMEOUT"])
		}
	}
}

// roles is the value of --roles in a serve command.
func roles(cmd []string) string {
	for i, a := range cmd {
		if a == "--roles" && i+1 < len(cmd) {
			return cmd[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--roles="); ok {
			return v
		}
	}
	return ""
}
