package metrics

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
)

// Scrape reads the Prometheus text page at url (a process's /metrics) into
// series -> value, each series with its labels as the page prints them
// (`alharvest_sids_found_total{source="webhook"}`). It is how the tests and
// the benchmark read what a running process reports: from outside, the way
// Prometheus does.
func Scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				out[line[:i]] = v
			}
		}
	}
	return out, sc.Err()
}
