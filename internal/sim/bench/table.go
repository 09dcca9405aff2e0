package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable prints results as one table.
func WriteTable(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tmode\twall\tideal\tefficiency\tfirst call\tfrom first call\tidle\ttail\tcalls\tquota 503s\tpeak calls\tsubs/s\tfiles/s\tMB/s\tmissing\tpeak RSS MiB\tCPU s\t")
	for _, r := range results {
		ideal, eff, fromFirst, idle := "-", "-", "-", "-"
		if r.Ideal > 0 {
			ideal, eff, idle = r.Ideal.String(), fmt.Sprintf("%.2f", r.Efficiency), r.Idle.String()
		}
		if r.EffFromFirst > 0 {
			fromFirst = fmt.Sprintf("%.2f", r.EffFromFirst)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d (%.2f%%)\t%d\t%.0f\t%.0f\t%.1f\t%d/%d\t%s\t%s\t\n",
			r.Workload, r.Mode, r.Wall, ideal, eff, r.FirstCall, fromFirst, idle, r.Tail, r.Calls, r.Quota503, r.Quota503Pc, r.PeakCalls,
			r.SubsPerSec, r.FilesPerSec, r.MBPerSec, r.Missing, r.Expected, perProc(r.RSS, "%.0f"), perProc(r.CPU, "%.1f"))
	}
	tw.Flush()
}

func perProc(m map[string]float64, format string) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+" "+fmt.Sprintf(format, m[n]))
	}
	return strings.Join(parts, ", ")
}
