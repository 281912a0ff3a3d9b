package kubernetes_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TestObjectsAreValid checks what the API server's validation checks
// beyond field names and types, for the fields these manifests use: names,
// labels, selectors, ports, probes, volumes and references between
// objects.
func TestObjectsAreValid(t *testing.T) {
	m := rendered(t)
	for name, d := range m.deployments {
		checkMeta(t, "Deployment/"+name, &d.ObjectMeta)
		checkWorkload(t, m, "Deployment/"+name, d.Spec.Selector, &d.Spec.Template, nil)
	}
	for name, s := range m.statefulSets {
		checkMeta(t, "StatefulSet/"+name, &s.ObjectMeta)
		var claims []string
		for _, pvc := range s.Spec.VolumeClaimTemplates {
			claims = append(claims, pvc.Name)
		}
		checkWorkload(t, m, "StatefulSet/"+name, s.Spec.Selector, &s.Spec.Template, claims)
		if _, ok := m.services[s.Spec.ServiceName]; !ok {
			t.Errorf("StatefulSet/%s serviceName %q: no such Service", name, s.Spec.ServiceName)
		}
	}
	for name, s := range m.services {
		id := "Service/" + name
		checkMeta(t, id, &s.ObjectMeta)
		if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
			t.Errorf("%s: name: %v", id, errs)
		}
		pod := selectedPod(t, m, id, labels.SelectorFromSet(s.Spec.Selector))
		if pod == nil {
			continue
		}
		for _, p := range s.Spec.Ports {
			if errs := validation.IsValidPortNum(int(p.Port)); len(errs) > 0 {
				t.Errorf("%s port %s: %v", id, p.Name, errs)
			}
			if _, err := containerPort(pod.Spec.Containers, p.TargetPort); err != nil {
				t.Errorf("%s port %s: targetPort: %v", id, p.Name, err)
			}
		}
	}
	for name, p := range m.pdbs {
		id := "PodDisruptionBudget/" + name
		checkMeta(t, id, &p.ObjectMeta)
		if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
			t.Errorf("%s: set exactly one of minAvailable and maxUnavailable", id)
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("%s: selector %v: %v; want a non-empty selector", id, p.Spec.Selector, err)
			continue
		}
		selectedPod(t, m, id, sel)
	}
	for name, n := range m.netpols {
		id := "NetworkPolicy/" + name
		checkMeta(t, id, &n.ObjectMeta)
		sel, err := metav1.LabelSelectorAsSelector(&n.Spec.PodSelector)
		if err != nil || sel.Empty() {
			t.Errorf("%s: podSelector %v: %v; want a non-empty selector", id, n.Spec.PodSelector, err)
			continue
		}
		selectedPod(t, m, id, sel)
	}
	for name, c := range m.configMaps {
		checkMeta(t, "ConfigMap/"+name, &c.ObjectMeta)
		for key := range c.Data {
			if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
				t.Errorf("ConfigMap/%s key %q: %v", name, key, errs)
			}
		}
	}
	for name, s := range m.secrets {
		checkMeta(t, "Secret/"+name, &s.ObjectMeta)
		for key := range s.StringData {
			if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
				t.Errorf("Secret/%s key %q: %v", name, key, errs)
			}
		}
	}
}

func checkMeta(t *testing.T, id string, om *metav1.ObjectMeta) {
	t.Helper()
	if errs := validation.IsDNS1123Subdomain(om.Name); len(errs) > 0 {
		t.Errorf("%s: name: %v", id, errs)
	}
	if om.Namespace != "" {
		t.Errorf("%s: namespace %q; leave it to `kubectl apply -n`", id, om.Namespace)
	}
	if errs := metav1validation.ValidateLabels(om.Labels, field.NewPath("metadata", "labels")); len(errs) > 0 {
		t.Errorf("%s: %v", id, errs.ToAggregate())
	}
}

// checkWorkload checks a Deployment's or StatefulSet's pod template: the
// selector selects it, and its containers are well formed, locked down and
// refer only to what exists. claims are the names of a StatefulSet's
// volume claim templates, which containers mount as volumes.
func checkWorkload(t *testing.T, m *manifests, id string, selector *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec, claims []string) {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(selector)
	switch {
	case err != nil || sel.Empty():
		t.Errorf("%s: selector %v: %v; want a non-empty selector", id, selector, err)
	case !sel.Matches(labels.Set(tmpl.Labels)):
		t.Errorf("%s: selector %v does not match the template's labels %v", id, sel, tmpl.Labels)
	}
	if errs := metav1validation.ValidateLabels(tmpl.Labels, field.NewPath("spec", "template", "metadata", "labels")); len(errs) > 0 {
		t.Errorf("%s: %v", id, errs.ToAggregate())
	}
	spec := &tmpl.Spec
	if len(spec.Containers) == 0 {
		t.Fatalf("%s: no containers", id)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
		if v.ConfigMap != nil {
			if _, ok := m.configMaps[v.ConfigMap.Name]; !ok {
				t.Errorf("%s volume %s: no ConfigMap %q", id, v.Name, v.ConfigMap.Name)
			}
		}
	}
	for _, name := range claims {
		volumes[name] = corev1.Volume{Name: name}
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false; nothing here calls the Kubernetes API", id)
	}
	seen := map[string]bool{}
	for _, c := range spec.Containers {
		cid := id + " container " + c.Name
		if errs := validation.IsDNS1123Label(c.Name); len(errs) > 0 {
			t.Errorf("%s: name: %v", cid, errs)
		}
		if seen[c.Name] {
			t.Errorf("%s: name used twice", cid)
		}
		seen[c.Name] = true
		if c.Image == "" {
			t.Errorf("%s: no image", cid)
		}
		portNames := map[string]bool{}
		for _, p := range c.Ports {
			if errs := validation.IsValidPortNum(int(p.ContainerPort)); len(errs) > 0 {
				t.Errorf("%s port %s: %v", cid, p.Name, errs)
			}
			if errs := validation.IsValidPortName(p.Name); len(errs) > 0 {
				t.Errorf("%s port %q: name: %v", cid, p.Name, errs)
			}
			if portNames[p.Name] {
				t.Errorf("%s port %s: name used twice", cid, p.Name)
			}
			portNames[p.Name] = true
		}
		for what, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
			if p != nil {
				checkProbe(t, cid+" "+what, spec.Containers, p)
			}
		}
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("%s: want both a readinessProbe and a livenessProbe", cid)
		}
		for _, vm := range c.VolumeMounts {
			if _, ok := volumes[vm.Name]; !ok {
				t.Errorf("%s volumeMount %s: no such volume", cid, vm.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				if _, ok := m.secrets[ef.SecretRef.Name]; !ok {
					t.Errorf("%s envFrom: no Secret %q", cid, ef.SecretRef.Name)
				}
			}
		}
		for _, e := range c.Env {
			if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
				s, ok := m.secrets[ref.SecretKeyRef.Name]
				if !ok {
					t.Errorf("%s env %s: no Secret %q", cid, e.Name, ref.SecretKeyRef.Name)
				} else if !hasKey(s, ref.SecretKeyRef.Key) {
					t.Errorf("%s env %s: Secret %s has no key %q", cid, e.Name, s.Name, ref.SecretKeyRef.Key)
				}
			}
		}
		checkResources(t, cid, c.Resources)
		checkLockedDown(t, cid, psc, c.SecurityContext)
	}
}

// checkProbe checks that a probe has one handler and that its port is one
// the containers declare.
func checkProbe(t *testing.T, id string, containers []corev1.Container, p *corev1.Probe) {
	t.Helper()
	var port intstr.IntOrString
	handlers := 0
	if h := p.HTTPGet; h != nil {
		handlers++
		port = h.Port
		if !strings.HasPrefix(h.Path, "/") {
			t.Errorf("%s: path %q does not start with /", id, h.Path)
		}
	}
	if h := p.TCPSocket; h != nil {
		handlers++
		port = h.Port
	}
	if h := p.GRPC; h != nil {
		handlers++
		port = intstr.FromInt32(h.Port)
	}
	if p.Exec != nil {
		handlers++
		t.Errorf("%s: an exec probe needs tools in the image; use httpGet, grpc or tcpSocket", id)
	}
	if handlers != 1 {
		t.Errorf("%s: %d handlers, want exactly one", id, handlers)
		return
	}
	if _, err := containerPort(containers, port); err != nil {
		t.Errorf("%s: port: %v", id, err)
	}
	if p.TimeoutSeconds < 1 || p.PeriodSeconds < 1 || p.TimeoutSeconds >= p.PeriodSeconds {
		t.Errorf("%s: timeoutSeconds %d, periodSeconds %d: want both set and the timeout below the period", id, p.TimeoutSeconds, p.PeriodSeconds)
	}
}

// containerPort resolves a port reference (a name or a number) against the
// ports the containers declare.
func containerPort(containers []corev1.Container, ref intstr.IntOrString) (int32, error) {
	for _, c := range containers {
		for _, p := range c.Ports {
			if (ref.Type == intstr.String && p.Name == ref.StrVal) || (ref.Type == intstr.Int && p.ContainerPort == ref.IntVal) {
				return p.ContainerPort, nil
			}
		}
	}
	return 0, fmt.Errorf("%s is not a port the containers declare", ref.String())
}

func checkResources(t *testing.T, id string, r corev1.ResourceRequirements) {
	t.Helper()
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := r.Requests[name]
		lim, okLim := r.Limits[name]
		if !okReq || !okLim {
			t.Errorf("%s: resources: want both a request and a limit for %s", id, name)
			continue
		}
		if req.Sign() <= 0 || req.Cmp(lim) > 0 {
			t.Errorf("%s: resources: %s request %s, limit %s: want 0 < request <= limit", id, name, req.String(), lim.String())
		}
	}
}

// checkLockedDown checks that a container runs as a non-root user, on a
// read-only root file system, without privilege escalation or Linux
// capabilities.
func checkLockedDown(t *testing.T, id string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	t.Helper()
	if c == nil {
		c = &corev1.SecurityContext{}
	}
	nonRoot := c.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = pod.RunAsNonRoot
	}
	uid := c.RunAsUser
	if uid == nil {
		uid = pod.RunAsUser
	}
	switch {
	case nonRoot == nil || !*nonRoot:
		t.Errorf("%s: runAsNonRoot is not true", id)
	case uid == nil || *uid == 0:
		t.Errorf("%s: runAsUser is unset or 0; give the numeric non-root user the image runs as", id)
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", id)
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", id)
	}
	if c.Privileged != nil && *c.Privileged {
		t.Errorf("%s: privileged", id)
	}
	if c.Capabilities == nil || !slices.Equal(c.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(c.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities %v, want drop [ALL] and none added", id, c.Capabilities)
	}
	sp := c.SeccompProfile
	if sp == nil {
		sp = pod.SeccompProfile
	}
	if sp == nil || sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile %v, want RuntimeDefault", id, sp)
	}
}

// selectedPod returns the pod template that sel selects, failing when it
// selects none or the pods of several workloads.
func selectedPod(t *testing.T, m *manifests, id string, sel labels.Selector) *corev1.PodTemplateSpec {
	t.Helper()
	var got []*corev1.PodTemplateSpec
	var owners []string
	for name, d := range m.deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			got = append(got, &d.Spec.Template)
			owners = append(owners, "Deployment/"+name)
		}
	}
	for name, s := range m.statefulSets {
		if sel.Matches(labels.Set(s.Spec.Template.Labels)) {
			got = append(got, &s.Spec.Template)
			owners = append(owners, "StatefulSet/"+name)
		}
	}
	if len(got) != 1 {
		t.Errorf("%s: selector %v selects the pods of %v, want exactly one workload's", id, sel, owners)
		return nil
	}
	return got[0]
}

func hasKey(s *corev1.Secret, key string) bool {
	_, inString := s.StringData[key]
	_, inData := s.Data[key]
	return inString || inData
}
