package kubernetes_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	kustomizetypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The objects the gateway's manifests are expected to hold, by name.
const (
	gatewayName       = "llmgateway"
	gatewayContainer  = "gateway"
	grpcServiceName   = "llmgateway-grpc"
	httpServiceName   = "llmgateway-http"
	redisName         = "redis"
	gatewayReplicas   = 3
	healthService     = "llmgateway.v1.LLMGatewayService" // registered besides "" by package app
	kustomizationFile = "kustomization.yaml"
)

// manifests is a decoded set of objects, by name within their kind.
type manifests struct {
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	pdbs         map[string]*policyv1.PodDisruptionBudget
	netpols      map[string]*networkingv1.NetworkPolicy
	// ids lists every object as "Kind/name", in order.
	ids []string
}

func newManifests() *manifests {
	return &manifests{
		deployments:  map[string]*appsv1.Deployment{},
		statefulSets: map[string]*appsv1.StatefulSet{},
		services:     map[string]*corev1.Service{},
		configMaps:   map[string]*corev1.ConfigMap{},
		secrets:      map[string]*corev1.Secret{},
		pdbs:         map[string]*policyv1.PodDisruptionBudget{},
		netpols:      map[string]*networkingv1.NetworkPolicy{},
	}
}

// strictDecoder decodes YAML or JSON into the typed Kubernetes API objects
// of the groups the manifests use, as the API server does under
// `kubectl apply --validate=strict`: an unknown or duplicate field, a value
// of the wrong type, or a kind or version it does not know is an error.
func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			t.Fatalf("building the scheme: %v", err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// add decodes one document into m.
func (m *manifests) add(dec runtime.Decoder, doc []byte) error {
	obj, gvk, err := dec.Decode(doc, nil, nil)
	if err != nil {
		return err
	}
	acc, err := metaOf(obj)
	if err != nil {
		return err
	}
	name := acc.GetName()
	id := gvk.Kind + "/" + name
	if slices.Contains(m.ids, id) {
		return fmt.Errorf("%s defined twice", id)
	}
	m.ids = append(m.ids, id)
	switch o := obj.(type) {
	case *appsv1.Deployment:
		m.deployments[name] = o
	case *appsv1.StatefulSet:
		m.statefulSets[name] = o
	case *corev1.Service:
		m.services[name] = o
	case *corev1.ConfigMap:
		m.configMaps[name] = o
	case *corev1.Secret:
		m.secrets[name] = o
	case *policyv1.PodDisruptionBudget:
		m.pdbs[name] = o
	case *networkingv1.NetworkPolicy:
		m.netpols[name] = o
	default:
		return fmt.Errorf("%s: kind not covered by these checks; add it to manifests", id)
	}
	return nil
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	acc, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return acc, nil
}

// documents splits a multi-document YAML stream, dropping empty documents
// (comments only).
func documents(data []byte) ([][]byte, error) {
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if s := strings.TrimSpace(string(j)); s == "null" || s == "" {
			continue
		}
		docs = append(docs, doc)
	}
}

// kustomization reads kustomization.yaml strictly into kustomize's own
// type.
func kustomization(t *testing.T) *kustomizetypes.Kustomization {
	t.Helper()
	data, err := os.ReadFile(kustomizationFile)
	if err != nil {
		t.Fatal(err)
	}
	var k kustomizetypes.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("%s: %v", kustomizationFile, err)
	}
	return &k
}

// files decodes every manifest file named by kustomization.yaml, strictly.
func files(t *testing.T) *manifests {
	t.Helper()
	dec := strictDecoder(t)
	m := newManifests()
	for _, f := range kustomization(t).Resources {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("%s lists %s: %v", kustomizationFile, f, err)
		}
		docs, err := documents(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, doc := range docs {
			if err := m.add(dec, doc); err != nil {
				t.Errorf("%s, document %d: %v", f, i+1, err)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return m
}

// rendered builds the kustomization as `kubectl apply -k` does and decodes
// every object it outputs, strictly.
func rendered(t *testing.T) *manifests {
	t.Helper()
	abs, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	dec := strictDecoder(t)
	m := newManifests()
	for _, r := range res.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatalf("kustomize build: %s: %v", r.CurId(), err)
		}
		if err := m.add(dec, doc); err != nil {
			t.Errorf("kustomize build output: %v\n%s", err, doc)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return m
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	k := kustomization(t)
	onDisk, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	onDisk = slices.DeleteFunc(onDisk, func(f string) bool { return f == kustomizationFile })
	listed := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(listed, onDisk) {
		t.Errorf("%s resources = %v, want every manifest in the directory: %v", kustomizationFile, listed, onDisk)
	}
	if k.Namespace != "" {
		t.Errorf("%s sets namespace %q; leave it to `kubectl apply -n` or an overlay", kustomizationFile, k.Namespace)
	}
}

// TestRenderedMatchesFiles checks that kustomize outputs exactly the
// objects of the files, so that the checks below, made on the output, see
// what is written.
func TestRenderedMatchesFiles(t *testing.T) {
	got, want := rendered(t).ids, files(t).ids
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("kustomize build objects = %v, want the files' %v", got, want)
	}
}

// TestStrictDecoderRejects shows that the decoder the manifests pass
// through does reject what the API server would.
func TestStrictDecoderRejects(t *testing.T) {
	const svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n"
	tests := []struct {
		name string
		give string
		want string
	}{
		{"unknown field", svc + "  selectr: {app: x}\n", `unknown field "spec.selectr"`},
		{"nested unknown field", svc + "  ports:\n    - {port: 80, targetprot: 8080}\n", `unknown field "spec.ports[0].targetprot"`},
		{"duplicate field", svc + "  type: ClusterIP\n  type: NodePort\n", `"type" already set`},
		{"wrong type", svc + "  ports:\n    - port: eighty\n", "cannot unmarshal"},
		{"unknown kind", "apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: d}\n", "no kind \"Deploymnet\""},
		{"retired version", "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: p}\n", "no kind \"PodDisruptionBudget\" is registered for version \"policy/v1beta1\""},
	}
	dec := strictDecoder(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newManifests().add(dec, []byte(tt.give))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decoding %q = %v, want an error containing %q", tt.give, err, tt.want)
			}
		})
	}
}
