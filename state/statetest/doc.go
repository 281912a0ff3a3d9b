// Package statetest is the conformance suite every state.Store backend
// passes: call Run from the backend's tests with a constructor. It uses
// the real clock (Redis decides with its own), so its time bounds are
// generous.
package statetest
