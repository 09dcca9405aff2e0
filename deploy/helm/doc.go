// Package helm tests the Helm chart in alharvest/ without a Kubernetes
// cluster: it lints and renders the chart with Helm's own Go packages,
// decodes every rendered object strictly into the Kubernetes API types, and
// checks the invariants that tie the chart to the binaries (the environment
// they read, the streams and consumers they create, the image version they
// are stamped with) and to the pod security a production cluster enforces.
//
// It is a module of its own so that Helm and the Kubernetes API modules
// stay out of alharvest's go.mod; it has no code, only tests.
package helm
