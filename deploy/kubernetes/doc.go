// Package kubernetes checks the Kubernetes manifests in this directory:
// kustomize builds kustomization.yaml as `kubectl apply -k` would, every
// object is decoded strictly into its Kubernetes API type (an unknown or
// misspelt field, a value of the wrong type or an unknown kind is an
// error), and the properties a gateway fleet depends on are asserted:
// replicas, probes, security context, the disruption budget, the Services'
// selectors and ports, the Secret's keys and the gateway config the
// ConfigMap carries. The manifests themselves are documented where they
// are; see also the README's deployment section.
package kubernetes
