package kubernetes_test

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/llmgateway/llmgateway/config"
)

// gateway returns the gateway's Deployment and its container.
func gateway(t *testing.T, m *manifests) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d, ok := m.deployments[gatewayName]
	if !ok {
		t.Fatalf("no Deployment %s", gatewayName)
	}
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == gatewayContainer {
			return d, c
		}
	}
	t.Fatalf("Deployment %s has no container %s", gatewayName, gatewayContainer)
	return nil, nil
}

// loadGatewayConfig returns the config the gateway container reads: the
// file its --config flag names, out of the ConfigMap mounted there, as
// config.Parse returns it.
func loadGatewayConfig(t *testing.T, m *manifests) *config.Config {
	t.Helper()
	d, c := gateway(t, m)
	path := flagValue(c.Args, "config")
	if path == "" {
		t.Fatalf("container %s args %q: no --config flag; without one the gateway runs its built-in simulator config", c.Name, c.Args)
	}
	var text []byte
	for _, vm := range c.VolumeMounts {
		rel, err := filepath.Rel(vm.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") || strings.Contains(rel, "/") {
			continue
		}
		if vm.SubPath != "" {
			t.Errorf("volumeMount %s uses subPath: a ConfigMap edit would never reach the file", vm.Name)
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			cm, ok := m.configMaps[v.ConfigMap.Name]
			if !ok {
				t.Fatalf("volume %s: no ConfigMap %s", v.Name, v.ConfigMap.Name)
			}
			data, ok := cm.Data[rel]
			if !ok {
				t.Fatalf("--config %s: ConfigMap %s has no key %q", path, cm.Name, rel)
			}
			text = []byte(data)
		}
	}
	if text == nil {
		t.Fatalf("--config %s: no ConfigMap is mounted there", path)
	}
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Parse(text, config.WithLookupEnv(noEnv))
	if err != nil {
		t.Fatalf("the gateway config in the ConfigMap (%s): %v", path, err)
	}
	return cfg
}

// flagValue returns the value of --name (or -name) in args, given as
// --name=value or --name value.
func flagValue(args []string, name string) string {
	for i, a := range args {
		flag := strings.TrimLeft(a, "-")
		if len(flag) == len(a) || len(a)-len(flag) > 2 {
			continue
		}
		if v, ok := strings.CutPrefix(flag, name+"="); ok {
			return v
		}
		if flag == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func port(t *testing.T, what, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", what, addr, err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		t.Fatalf("%s %q: port: %v", what, addr, err)
	}
	return int32(n)
}

func TestGatewayDeployment(t *testing.T) {
	m := rendered(t)
	d, c := gateway(t, m)
	cfg := loadGatewayConfig(t, m)
	pod := &d.Spec.Template.Spec

	if r := d.Spec.Replicas; r == nil || *r != gatewayReplicas {
		t.Errorf("replicas = %s, want %d", ptrString(r), gatewayReplicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy = %+v, want a rolling update with maxUnavailable 0", d.Spec.Strategy)
	}

	grpcPort := port(t, "server.grpc_addr", cfg.Server.GRPCAddr)
	httpPort := port(t, "server.http_addr", cfg.Server.HTTPAddr)
	if p, err := containerPort([]corev1.Container{*c}, intstr.FromString("grpc")); err != nil || p != grpcPort {
		t.Errorf("container port grpc = %d (%v), want %d, the config's server.grpc_addr", p, err, grpcPort)
	}
	if p, err := containerPort([]corev1.Container{*c}, intstr.FromString("http")); err != nil || p != httpPort {
		t.Errorf("container port http = %d (%v), want %d, the config's server.http_addr", p, err, httpPort)
	}

	// Readiness on gRPC health: the service package app registers.
	if rp := c.ReadinessProbe; rp == nil || rp.GRPC == nil {
		t.Errorf("readinessProbe = %+v, want a grpc probe", rp)
	} else {
		if rp.GRPC.Port != grpcPort {
			t.Errorf("readinessProbe grpc port = %d, want %d", rp.GRPC.Port, grpcPort)
		}
		if s := rp.GRPC.Service; s != nil && *s != "" && *s != healthService {
			t.Errorf("readinessProbe grpc service = %q, want \"\" or %q", *s, healthService)
		}
	}
	// Liveness on /healthz, which answers while the process runs.
	if lp := c.LivenessProbe; lp == nil || lp.HTTPGet == nil {
		t.Errorf("livenessProbe = %+v, want an httpGet probe", lp)
	} else {
		p, err := containerPort([]corev1.Container{*c}, lp.HTTPGet.Port)
		if lp.HTTPGet.Path != "/healthz" || err != nil || p != httpPort {
			t.Errorf("livenessProbe = GET %s on port %d (%v), want GET /healthz on %d", lp.HTTPGet.Path, p, err, httpPort)
		}
		if lp.HTTPGet.Scheme != "" && lp.HTTPGet.Scheme != corev1.URISchemeHTTP {
			t.Errorf("livenessProbe scheme = %s, want HTTP", lp.HTTPGet.Scheme)
		}
	}

	// Shutdown: the grace period covers the preStop sleep and the drain.
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if s := c.Lifecycle.PreStop.Sleep; s != nil {
			preStop = time.Duration(s.Seconds) * time.Second
		} else {
			t.Errorf("preStop = %+v, want a sleep action (the image has no shell)", c.Lifecycle.PreStop)
		}
	}
	grace := time.Duration(*d.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	if need := preStop + cfg.Server.DrainTimeout; grace <= need {
		t.Errorf("terminationGracePeriodSeconds = %s, want more than the preStop sleep plus server.drain_timeout (%s)", grace, need)
	}

	// Spread over nodes.
	spread := false
	for _, tsc := range pod.TopologySpreadConstraints {
		sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(d.Spec.Template.Labels)) && tsc.TopologyKey == "kubernetes.io/hostname" {
			spread = true
		}
	}
	if aa := pod.Affinity; aa != nil && aa.PodAntiAffinity != nil {
		spread = true
	}
	if !spread {
		t.Error("no topologySpreadConstraints over kubernetes.io/hostname selecting the gateway pods, and no podAntiAffinity: replicas may share a node")
	}

	// GOMEMLIMIT, when set, leaves the runtime headroom under the limit.
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" {
			continue
		}
		limit := c.Resources.Limits[corev1.ResourceMemory]
		n, err := goMemLimit(e.Value)
		if err != nil || float64(n) > 0.95*float64(limit.Value()) {
			t.Errorf("GOMEMLIMIT = %q (%v), want at most 95%% of limits.memory %s", e.Value, err, limit.String())
		}
	}
}

// ptrString renders an optional number: its value, or "unset".
func ptrString(p *int32) string {
	if p == nil {
		return "unset"
	}
	return strconv.Itoa(int(*p))
}

// goMemLimit parses a GOMEMLIMIT value: bytes, with an optional B, KiB,
// MiB, GiB or TiB suffix.
func goMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			return n * u.mult, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func TestGatewayServices(t *testing.T) {
	m := rendered(t)
	d, c := gateway(t, m)
	cfg := loadGatewayConfig(t, m)
	podLabels := labels.Set(d.Spec.Template.Labels)
	tests := []struct {
		service  string
		wantPort int32
		wantApp  string
	}{
		{grpcServiceName, port(t, "server.grpc_addr", cfg.Server.GRPCAddr), "grpc"},
		{httpServiceName, port(t, "server.http_addr", cfg.Server.HTTPAddr), "http"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s, ok := m.services[tt.service]
			if !ok {
				t.Fatalf("no Service %s", tt.service)
			}
			if !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) || len(s.Spec.Selector) == 0 {
				t.Errorf("selector = %v, want one that selects the gateway pods %v", s.Spec.Selector, podLabels)
			}
			if len(s.Spec.Ports) != 1 {
				t.Fatalf("ports = %+v, want one", s.Spec.Ports)
			}
			p := s.Spec.Ports[0]
			target, err := containerPort([]corev1.Container{*c}, p.TargetPort)
			if err != nil || target != tt.wantPort || p.Port != tt.wantPort {
				t.Errorf("port %d -> targetPort %s (container port %d, %v), want %d -> %d", p.Port, p.TargetPort.String(), target, err, tt.wantPort, tt.wantPort)
			}
			if p.AppProtocol == nil || *p.AppProtocol != tt.wantApp {
				got := "unset"
				if p.AppProtocol != nil {
					got = *p.AppProtocol
				}
				t.Errorf("appProtocol = %s, want %s", got, tt.wantApp)
			}
		})
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	m := rendered(t)
	d, _ := gateway(t, m)
	p, ok := m.pdbs[gatewayName]
	if !ok {
		t.Fatalf("no PodDisruptionBudget %s", gatewayName)
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("selector %v (%v) does not select the gateway pods %v", p.Spec.Selector, err, d.Spec.Template.Labels)
	}
	replicas := int(*d.Spec.Replicas)
	available := replicas
	switch {
	case p.Spec.MaxUnavailable != nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MaxUnavailable, replicas, true)
		if err != nil {
			t.Fatal(err)
		}
		available = replicas - n
	case p.Spec.MinAvailable != nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MinAvailable, replicas, true)
		if err != nil {
			t.Fatal(err)
		}
		available = n
	}
	if available < 2 || available >= replicas {
		t.Errorf("the budget keeps %d of %d replicas, want at least 2 kept and at least 1 evictable", available, replicas)
	}
	if pol := p.Spec.UnhealthyPodEvictionPolicy; pol == nil || *pol != policyv1.AlwaysAllow {
		t.Errorf("unhealthyPodEvictionPolicy = %v, want AlwaysAllow: an unready pod must not block a node drain", pol)
	}
}

// TestGatewayConfig checks the config the ConfigMap carries: it parses as
// the gateway parses it, keeps shared state in the Redis of redis.yaml,
// and every variable it names comes from the Secret.
func TestGatewayConfig(t *testing.T) {
	m := rendered(t)
	d, c := gateway(t, m)
	cfg := loadGatewayConfig(t, m)

	if cfg.State.Backend != config.BackendRedis || cfg.State.Redis == nil {
		t.Fatalf("state.backend = %s, want redis: replicas must share limits and budgets", cfg.State.Backend)
	}
	addr := cfg.State.Redis.Addr
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("state.redis.addr = %q: %v", addr, err)
	}
	svc, ok := m.services[host]
	if !ok {
		t.Fatalf("state.redis.addr %s: no Service %s", addr, host)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != port(t, "state.redis.addr", addr) {
		t.Errorf("state.redis.addr %s: Service %s has ports %v, want only the address's", addr, host, servicePorts(svc))
	}
	redisPod := selectedPod(t, m, "Service/"+host, labels.SelectorFromSet(svc.Spec.Selector))
	if redisPod == nil || !slices.ContainsFunc(redisPod.Spec.Containers, func(c corev1.Container) bool { return c.Name == redisName }) {
		t.Errorf("Service %s does not select a Redis pod", host)
	}

	// Every variable the config names comes from the Secret the gateway
	// reads its environment from.
	var secret *corev1.Secret
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil {
			secret = m.secrets[ef.SecretRef.Name]
		}
	}
	if secret == nil {
		t.Fatal("the gateway container has no envFrom secretRef for its keys")
	}
	var vars []string
	for _, p := range cfg.Providers {
		if p.APIKeyEnv != "" {
			vars = append(vars, p.APIKeyEnv)
		}
	}
	if pw := cfg.State.Redis.PasswordEnv; pw == "" {
		t.Error("state.redis.password_env is not set: the Redis of redis.yaml requires a password")
	} else {
		vars = append(vars, pw)
	}
	for _, v := range vars {
		if !hasKey(secret, v) {
			t.Errorf("the config reads %s, which Secret %s does not have", v, secret.Name)
		}
	}
	// Files the gateway writes sit on a writable volume: the root file
	// system is read-only.
	if p := cfg.Ledger.Path; p != "" {
		if vm := mountOf(c, filepath.Dir(p)); vm == nil || vm.ReadOnly || !emptyDirOrClaim(d, vm.Name) {
			t.Errorf("ledger.path %s: its directory is not on a writable volume of the gateway container", p)
		}
	}

	types := map[config.ProviderType]bool{}
	for _, p := range cfg.Providers {
		types[p.Type] = true
		if p.Type == config.TypeSimulator {
			t.Errorf("provider %s is a simulator: the deployed config should show real providers", p.Name)
		}
	}
	if !types[config.TypeOpenAI] || !types[config.TypeAnthropic] {
		t.Errorf("provider types = %v, want openai and anthropic examples", types)
	}
}

// servicePorts lists a Service's ports.
func servicePorts(s *corev1.Service) []int32 {
	var ports []int32
	for _, p := range s.Spec.Ports {
		ports = append(ports, p.Port)
	}
	return ports
}

// mountOf returns the volume mount of c that holds dir, the deepest one.
func mountOf(c *corev1.Container, dir string) *corev1.VolumeMount {
	var best *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		rel, err := filepath.Rel(vm.MountPath, dir)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		if best == nil || len(vm.MountPath) > len(best.MountPath) {
			best = &c.VolumeMounts[i]
		}
	}
	return best
}

// emptyDirOrClaim reports whether the pod's volume name is writable
// storage: an emptyDir or a persistent volume claim.
func emptyDirOrClaim(d *appsv1.Deployment, name string) bool {
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v.EmptyDir != nil || v.PersistentVolumeClaim != nil
		}
	}
	return false
}

// TestSecretIsATemplate keeps real keys out of the repository: the
// committed Secret has only empty placeholders.
func TestSecretIsATemplate(t *testing.T) {
	for name, s := range files(t).secrets {
		if len(s.Data) > 0 {
			t.Errorf("Secret %s has data; the committed file is a template with empty stringData values", name)
		}
		if len(s.StringData) == 0 {
			t.Errorf("Secret %s lists no keys to fill", name)
		}
		for k, v := range s.StringData {
			if v != "" {
				t.Errorf("Secret %s key %s = %q, want \"\": fill it in your copy, never in the repository", name, k, v)
			}
		}
	}
}

func TestRedis(t *testing.T) {
	m := rendered(t)
	d, c := gateway(t, m)
	cfg := loadGatewayConfig(t, m)
	s, ok := m.statefulSets[redisName]
	if !ok {
		t.Fatalf("no StatefulSet %s", redisName)
	}
	if r := s.Spec.Replicas; r == nil || *r != 1 {
		t.Errorf("replicas = %s, want 1: package state/redis needs a single primary, not a cluster", ptrString(r))
	}
	var r *corev1.Container
	for i := range s.Spec.Template.Spec.Containers {
		if s.Spec.Template.Spec.Containers[i].Name == redisName {
			r = &s.Spec.Template.Spec.Containers[i]
		}
	}
	if r == nil {
		t.Fatalf("StatefulSet %s has no container %s", redisName, redisName)
	}

	// Redis requires the password the gateway sends: the same Secret key.
	if cfg.State.Redis == nil {
		t.Fatal("state.redis is not set")
	}
	pwEnv := cfg.State.Redis.PasswordEnv
	var gatewaySecret string
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil {
			gatewaySecret = ef.SecretRef.Name
		}
	}
	pass, _ := argAfter(r.Args, "--requirepass")
	passVar, ok := strings.CutPrefix(pass, "$(")
	passVar, ok2 := strings.CutSuffix(passVar, ")")
	if !ok || !ok2 {
		t.Fatalf("redis args %q: want --requirepass $(VAR), VAR from the Secret", r.Args)
	}
	found := false
	for _, e := range r.Env {
		if e.Name == passVar && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			found = ref.Name == gatewaySecret && ref.Key == pwEnv
		}
	}
	if !found {
		t.Errorf("redis %s = %+v, want Secret %s key %q, which the gateway reads through state.redis.password_env", passVar, r.Env, gatewaySecret, pwEnv)
	}

	// maxmemory below the memory limit, and no eviction.
	mm, _ := argAfter(r.Args, "--maxmemory")
	n, err := redisBytes(mm)
	limit := r.Resources.Limits[corev1.ResourceMemory]
	if err != nil || n <= 0 || float64(n) > 0.8*float64(limit.Value()) {
		t.Errorf("--maxmemory %s (%v), want at most 80%% of limits.memory %s", mm, err, limit.String())
	}
	if v, _ := argAfter(r.Args, "--maxmemory-policy"); v != "noeviction" {
		t.Errorf("redis args %q: want --maxmemory-policy noeviction: evicted budgets are forgotten spend", r.Args)
	}
	if v, _ := argAfter(r.Args, "--appendonly"); v != "yes" {
		t.Errorf("redis args %q: want --appendonly yes on the persistent volume", r.Args)
	}
	if len(s.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("volumeClaimTemplates = %d, want 1 for /data", len(s.Spec.VolumeClaimTemplates))
	}

	// Only the gateway pods reach Redis.
	np, ok := m.netpols[redisName]
	if !ok {
		t.Fatalf("no NetworkPolicy %s", redisName)
	}
	sel, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if !sel.Matches(labels.Set(s.Spec.Template.Labels)) {
		t.Errorf("NetworkPolicy %s podSelector %v does not select the Redis pods", np.Name, sel)
	}
	redisPort, err := containerPort([]corev1.Container{*r}, intstr.FromString("redis"))
	if err != nil {
		t.Fatal(err)
	}
	allowsGateway := false
	for _, rule := range np.Spec.Ingress {
		for _, from := range rule.From {
			fsel, err := metav1.LabelSelectorAsSelector(from.PodSelector)
			if err != nil || from.PodSelector == nil || !fsel.Matches(labels.Set(d.Spec.Template.Labels)) {
				continue
			}
			for _, p := range rule.Ports {
				if p.Port != nil && p.Port.IntValue() == int(redisPort) {
					allowsGateway = true
				}
			}
		}
	}
	if !allowsGateway {
		t.Errorf("NetworkPolicy %s does not let the gateway pods reach Redis on port %d", np.Name, redisPort)
	}
}

// argAfter returns the argument that follows flag in args.
func argAfter(args []string, flag string) (string, bool) {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}

// redisBytes parses a Redis memory size: 1k = 1000, 1kb = 1024, and so on
// for m and g.
func redisBytes(s string) (int64, error) {
	s = strings.ToLower(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			return n * u.mult, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// TestQuantitiesParse guards the helpers the checks above rely on.
func TestQuantitiesParse(t *testing.T) {
	tests := []struct {
		give string
		f    func(string) (int64, error)
		want int64
	}{
		{"460MiB", goMemLimit, 460 << 20},
		{"1GiB", goMemLimit, 1 << 30},
		{"1048576", goMemLimit, 1 << 20},
		{"384mb", redisBytes, 384 << 20},
		{"384m", redisBytes, 384e6},
		{"2GB", redisBytes, 2 << 30},
	}
	for _, tt := range tests {
		got, err := tt.f(tt.give)
		if err != nil || got != tt.want {
			t.Errorf("parse(%q) = %d, %v, want %d", tt.give, got, err, tt.want)
		}
	}
}

// TestOverlay builds the overlay the README describes: this directory as
// the base, the image pointed at a registry, and the Secret replaced from
// an env file kept out of the repository.
func TestOverlay(t *testing.T) {
	base, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, base) // kustomize takes no absolute base
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: llmgateway
resources:
  - ` + filepath.ToSlash(rel) + `
images:
  - name: llmgateway
    newName: registry.example.com/llmgateway
    newTag: "1.2.3"
secretGenerator:
  - name: llmgateway-secrets
    behavior: replace
    envs: [secrets.env]
    options:
      disableNameSuffixHash: true
`,
		"secrets.env": "OPENAI_API_KEY=sk-test\nANTHROPIC_API_KEY=sk-ant-test\nREDIS_PASSWORD=0123456789abcdef\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build of the overlay: %v", err)
	}
	dec := strictDecoder(t)
	m := newManifests()
	for _, r := range res.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		if err := m.add(dec, doc); err != nil {
			t.Fatalf("overlay output: %v\n%s", err, doc)
		}
		if ns := r.GetNamespace(); ns != "llmgateway" {
			t.Errorf("%s namespace = %q, want llmgateway", r.CurId(), ns)
		}
	}
	_, c := gateway(t, m)
	if want := "registry.example.com/llmgateway:1.2.3"; c.Image != want {
		t.Errorf("gateway image = %s, want %s", c.Image, want)
	}
	s, ok := m.secrets["llmgateway-secrets"]
	if !ok {
		t.Fatal("the overlay has no Secret llmgateway-secrets")
	}
	got := map[string]string{}
	for k, v := range s.Data {
		got[k] = string(v)
	}
	for k, v := range s.StringData {
		got[k] = v
	}
	want := map[string]string{"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-ant-test", "REDIS_PASSWORD": "0123456789abcdef"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Secret llmgateway-secrets mismatch (-want +got):\n%s", diff)
	}
}
