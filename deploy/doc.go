// Package deploy holds the checks of the gateway's deployment artifacts:
// the container image's Dockerfile and .dockerignore at the repository
// root (dockerfile_test.go) and the Kubernetes manifests in
// deploy/kubernetes (package kubernetes).
//
// It is its own Go module, so that the Kubernetes API types and kustomize
// the checks need stay out of the gateway's go.mod. go.work puts the
// gateway's module from this checkout beside it, so the checks always
// test the files next to them. `make check-deploy` (part of `make test`)
// runs them.
package deploy
