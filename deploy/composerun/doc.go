// Package composerun runs the compose files at the root of the module with
// the real Docker engine and Compose tool: the demo, scaled stages, rolling
// replaces, killed stages, a three-node NATS cluster losing a node, and the
// one-command image. Each scenario checks the collected set against alsim's
// expected set, the dead-letter queue, and the containers' health.
//
// The images come from deploy/images.sh, built once per test binary: nothing
// is pulled. Scenarios skip with one line when no Docker daemon answers or
// no Compose tool is installed, and in -short mode. Each uses its own compose
// project (name, network, volumes, loopback ports) and removes it after.
//
// It has no code of its own, only tests.
package composerun
