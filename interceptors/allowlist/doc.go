// Package allowlist holds each key to the models it may use: a Chat or
// ChatStream request for a model outside the caller's allowlist is refused
// with PermissionDenied (HTTP 403), and ListModels answers only the models
// the caller may use.
//
// An allowlist holds model names and globs (* for any run of characters,
// ? for one), ignoring case. Aliases are resolved first: the requested
// name is turned into its model's canonical name by the injected Resolver,
// and the canonical name is matched; a plain name in the allowlist may be
// an alias too. Keys without an allowlist may use every model.
package allowlist
