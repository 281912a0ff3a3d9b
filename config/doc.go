// Package config owns the gateway's configuration file: its schema, the
// embedded default used when no file is given, environment-variable
// expansion, strict YAML decoding, validation and defaults.
//
// Load reads a file, Parse reads bytes and Default parses the embedded
// default.yaml, which runs the gateway on simulated providers only. All
// three follow the same steps:
//
//  1. ${NAME} and ${NAME:-fallback} are replaced with the environment
//     variable's value in the raw text; $$ stands for a literal $.
//  2. The text is decoded as one YAML document; a key the schema does not
//     know, or a value of the wrong type, is an error.
//  3. The values are validated; every problem is reported, each naming the
//     field by path (providers[1].base_url) and line.
//  4. Defaults fill the settings the file leaves out.
//
// Problems with the file come back as one *ValidationError that lists every
// problem of the first step that finds any (all unset variables, or all
// unknown keys and mistyped values, or all broken rules), each with its
// line, so that a user can fix a file in few passes.
//
// Each field's doc comment states its YAML key, its default and its effect;
// default.yaml is the commented example users copy.
package config
