// Package composetest tests the deployment files at the root of the module —
// docker-compose.yml, docker-compose.cluster.yml, Dockerfile and
// .dockerignore — without a Docker engine.
//
// The compose files are loaded with github.com/compose-spec/compose-go/v2,
// the loader Docker Compose itself uses, with the project's variable
// interpolation and profiles, and checked against what the binaries actually
// read: internal/config's table of environment variables and alsim's flags.
// When the docker-compose (v1) or docker compose (v2) command is installed,
// the files are also validated with `config`.
//
// It lives under deploy/ with the other deployment assets; it has no code
// of its own, only tests.
package composetest
