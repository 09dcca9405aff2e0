package helm_test

import (
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
)

// lintMessages runs `helm lint`'s rules (Chart.yaml, values, templates,
// dependencies, CRDs) on the chart with vals.
func lintMessages(vals map[string]any) []support.Message {
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		panic(err)
	}
	return lint.RunAll(chartDir, vals, release.Namespace, lint.WithKubeVersion(kv)).Messages
}
