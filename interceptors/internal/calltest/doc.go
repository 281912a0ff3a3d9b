// Package calltest helps test the door's interceptors without a server:
// a fake server stream, handlers that answer chat calls with fixed
// results, and the call infos of the chat methods.
package calltest
