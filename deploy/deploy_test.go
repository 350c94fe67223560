// Package deploy holds what the production deployment needs besides the
// binary (MySQL set-up scripts) and the static checks of compose.yml and the
// Dockerfile. No Docker engine is needed: the compose file is loaded with
// the compose-spec loader, as `docker compose` itself does.
package deploy

import (
	"bufio"
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

func loadCompose(t *testing.T, env map[string]string, opts ...func(*loader.Options)) *types.Project {
	t.Helper()
	path, err := filepath.Abs("../compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, func(o *loader.Options) { o.SetProjectName("marquee", true) })
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(path),
		ConfigFiles: []types.ConfigFile{{Filename: path, Content: content}},
		Environment: maps.Clone(env), // the loader adds to it
	}, opts...)
	if err != nil {
		t.Fatalf("loading compose.yml: %v", err)
	}
	return project
}

// marqueeServices run the Marquee image, each with its subcommand.
var marqueeServices = map[string]string{
	"migrate": "migrate",
	"api":     "api",
	"ingest":  "ingest",
	"imaging": "imaging",
	"load":    "load",
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t, nil)
	want := []string{"api", "imaging", "ingest", "kafka", "load", "migrate", "minio", "minio-setup", "mysql", "mysql-replica"}
	if got := p.ServiceNames(); !slices.Equal(sortedCopy(got), want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	for name, sub := range marqueeServices {
		s := p.Services[name]
		if len(s.Command) == 0 || s.Command[0] != sub {
			t.Errorf("%s: command %v, want %q first", name, s.Command, sub)
		}
		if !strings.HasPrefix(s.Image, "marquee:") || s.Build == nil {
			t.Errorf("%s: image %q and build %v, want the marquee image built from this checkout", name, s.Image, s.Build)
		}
		for _, key := range []string{"MARQUEE_DB_FILE", "MARQUEE_KAFKA_BROKERS", "MARQUEE_DATA_DIR"} {
			if v := s.Environment[key]; v == nil || *v == "" {
				t.Errorf("%s: %s not set", name, key)
			}
		}
		if got := *s.Environment["MARQUEE_KAFKA_BROKERS"]; got != "kafka:29092" {
			t.Errorf("%s: MARQUEE_KAFKA_BROKERS = %q, want the containers' listener kafka:29092", name, got)
		}
	}
	for _, oneShot := range []string{"migrate", "minio-setup"} {
		if got := p.Services[oneShot].Restart; got != "no" {
			t.Errorf("%s: restart %q, want no (it is one-shot)", oneShot, got)
		}
	}
}

func TestComposeHealthAndOrder(t *testing.T) {
	p := loadCompose(t, nil)
	for name, s := range p.Services {
		if name == "migrate" || name == "minio-setup" {
			continue
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s: no health check", name)
		}
	}
	wantDeps := map[string]map[string]string{
		"mysql-replica": {"mysql": types.ServiceConditionHealthy},
		"migrate":       {"mysql": types.ServiceConditionHealthy},
		"api": {"migrate": types.ServiceConditionCompletedSuccessfully, "minio-setup": types.ServiceConditionCompletedSuccessfully,
			"mysql-replica": types.ServiceConditionHealthy, "kafka": types.ServiceConditionHealthy},
		"ingest": {"migrate": types.ServiceConditionCompletedSuccessfully, "kafka": types.ServiceConditionHealthy},
		"imaging": {"migrate": types.ServiceConditionCompletedSuccessfully, "minio-setup": types.ServiceConditionCompletedSuccessfully,
			"kafka": types.ServiceConditionHealthy},
		"minio-setup": {"minio": types.ServiceConditionHealthy},
		"load":        {"migrate": types.ServiceConditionCompletedSuccessfully, "kafka": types.ServiceConditionHealthy},
	}
	for name, deps := range wantDeps {
		got := p.Services[name].DependsOn
		if len(got) != len(deps) {
			t.Errorf("%s depends on %v, want %v", name, got, deps)
		}
		for dep, cond := range deps {
			if got[dep].Condition != cond {
				t.Errorf("%s: depends on %s with condition %q, want %q", name, dep, got[dep].Condition, cond)
			}
		}
	}
}

func TestComposeNoRoot(t *testing.T) {
	p := loadCompose(t, nil)
	for name, s := range p.Services {
		user, _, _ := strings.Cut(s.User, ":")
		if user == "" || user == "0" || user == "root" {
			t.Errorf("%s: user %q: every service must run as a non-root user", name, s.User)
		}
	}
}

func TestComposeVolumesAndPorts(t *testing.T) {
	p := loadCompose(t, nil)
	mount := func(service, target string) *types.ServiceVolumeConfig {
		for _, v := range p.Services[service].Volumes {
			if v.Target == target {
				return &v
			}
		}
		return nil
	}
	// The compactor writes the image store and the API serves it: one
	// bucket of the minio service, no volume, so either runs on any host.
	for _, service := range []string{"imaging", "api"} {
		env := p.Services[service].Environment
		for key, want := range map[string]string{"MARQUEE_IMAGES_STORE": "s3://marquee-images/images", "MARQUEE_S3_ENDPOINT": "http://minio:9000",
			"MARQUEE_S3_PATH_STYLE": "true"} {
			if got := env[key]; got == nil || *got != want {
				t.Errorf("%s: %s = %v, want %s", service, key, got, want)
			}
		}
		if len(p.Services[service].Volumes) != 0 {
			t.Errorf("%s mounts volumes %+v; the image store is the bucket", service, p.Services[service].Volumes)
		}
	}
	if setup := strings.Join(p.Services["minio-setup"].Command, " "); !strings.Contains(setup, "mb --ignore-existing local/marquee-images") {
		t.Errorf("minio-setup does not make the bucket marquee-images: %s", setup)
	}
	for service, target := range map[string]string{"mysql": "/var/lib/mysql", "mysql-replica": "/var/lib/mysql", "kafka": "/var/lib/kafka/data", "minio": "/data"} {
		if v := mount(service, target); v == nil || v.Type != types.VolumeTypeVolume {
			t.Errorf("%s: %s is not on a named volume", service, target)
		}
	}
	for _, name := range []string{"mysql-primary", "mysql-replica", "kafka", "minio"} {
		if _, ok := p.Volumes[name]; !ok {
			t.Errorf("volume %s not declared", name)
		}
	}

	// --scale imaging=3 needs no fixed name and no host port.
	if s := p.Services["imaging"]; s.ContainerName != "" || len(s.Ports) > 0 {
		t.Errorf("imaging cannot be scaled: container_name %q, ports %v", s.ContainerName, s.Ports)
	}
	// Published ports listen on the host's loopback only.
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %s published on %q, want 127.0.0.1", name, port.Published, port.HostIP)
			}
		}
	}
}

func TestComposeKafkaListeners(t *testing.T) {
	env := loadCompose(t, nil).Services["kafka"].Environment
	get := func(k string) string {
		if v := env[k]; v != nil {
			return *v
		}
		return ""
	}
	advertised := get("KAFKA_ADVERTISED_LISTENERS")
	for _, want := range []string{"INTERNAL://kafka:29092", "HOST://127.0.0.1:9092"} {
		if !strings.Contains(advertised, want) {
			t.Errorf("KAFKA_ADVERTISED_LISTENERS %q lacks %s", advertised, want)
		}
	}
	if get("KAFKA_PROCESS_ROLES") != "broker,controller" {
		t.Errorf("Kafka is not in KRaft combined mode")
	}
	if get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") != "false" {
		t.Errorf("Kafka auto-creates topics: Marquee creates them with their policies")
	}
}

func TestComposeMySQLReplication(t *testing.T) {
	p := loadCompose(t, nil)
	ids := map[string]bool{}
	for _, name := range []string{"mysql", "mysql-replica"} {
		cmd := strings.Join(p.Services[name].Command, " ")
		for _, flag := range []string{"--gtid-mode=ON", "--enforce-gtid-consistency=ON", "--log-bin", "--character-set-server=utf8mb4"} {
			if !strings.Contains(cmd, flag) {
				t.Errorf("%s: command lacks %s", name, flag)
			}
		}
		id := regexp.MustCompile(`--server-id=(\d+)`).FindStringSubmatch(cmd)
		if id == nil || ids[id[1]] {
			t.Errorf("%s: missing or repeated --server-id in %q", name, cmd)
		} else {
			ids[id[1]] = true
		}
	}
	primary, err := os.ReadFile("mysql/primary/10-replication-user.sh")
	if err != nil {
		t.Fatal(err)
	}
	// The replication account gets exactly the one grant it needs, and the
	// application's account may read the replica's lag.
	grants := map[string][]string{}
	for _, m := range regexp.MustCompile(`(?i)GRANT\s+(.+?)\s+ON\s+\S+\s+TO\s+'([^']+)'`).FindAllStringSubmatch(string(primary), -1) {
		grants[m[2]] = append(grants[m[2]], strings.ToUpper(m[1]))
	}
	if got := grants["repl"]; !slices.Equal(got, []string{"REPLICATION SLAVE"}) {
		t.Errorf("replication user grants %v, want only REPLICATION SLAVE", got)
	}
	if got := grants["${MYSQL_USER}"]; !slices.Equal(got, []string{"REPLICATION CLIENT"}) {
		t.Errorf("application user grants %v, want REPLICATION CLIENT (to read the replica's lag)", got)
	}
	replica, err := os.ReadFile("mysql/replica/10-start-replica.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SOURCE_HOST = 'mysql'", "SOURCE_AUTO_POSITION = 1", "START REPLICA", "super_read_only = ON"} {
		if !strings.Contains(string(replica), want) {
			t.Errorf("replica set-up lacks %q", want)
		}
	}
	if _, ok := p.Services["mysql-replica"].Environment["MYSQL_USER"]; ok {
		t.Errorf("mysql-replica sets MYSQL_USER: the account must come from the primary, or replication conflicts")
	}
}

// TestDockerfile checks the runtime stage: a static binary, a non-root
// user, a health check, and the binary as the entry point.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages [][]string
	sc := bufio.NewScanner(f)
	var line strings.Builder
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if strings.HasSuffix(text, "\\") {
			line.WriteString(strings.TrimSuffix(text, "\\") + " ")
			continue
		}
		line.WriteString(text)
		instr := line.String()
		line.Reset()
		if strings.HasPrefix(strings.ToUpper(instr), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], instr)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(stages))
	}
	has := func(stage []string, prefix string) string {
		for _, instr := range stage {
			if strings.HasPrefix(instr, prefix) {
				return instr
			}
		}
		return ""
	}
	build, runtime := stages[0], stages[len(stages)-1]
	if run := has(build, "RUN --mount=type=cache,target=/go/pkg/mod --mount"); !strings.Contains(run, "CGO_ENABLED=0") {
		t.Errorf("the binary is not built static (CGO_ENABLED=0): %q", run)
	}
	user := strings.TrimSpace(strings.TrimPrefix(has(runtime, "USER "), "USER "))
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("runtime stage USER %q, want a non-root user", user)
	}
	if hc := has(runtime, "HEALTHCHECK "); !strings.Contains(hc, `"healthcheck"`) {
		t.Errorf("runtime stage health check %q, want the binary's healthcheck", hc)
	}
	if ep := has(runtime, "ENTRYPOINT "); !strings.Contains(ep, "/usr/local/bin/marquee") {
		t.Errorf("entry point %q, want the marquee binary", ep)
	}
	if from := runtime[0]; !strings.Contains(from, "distroless/static") && !strings.Contains(from, "scratch") {
		t.Errorf("runtime stage %q is not minimal", from)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
