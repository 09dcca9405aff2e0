package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Naive is the job's first naive Python solution (assemblyline_client's stream
// search, then submission/full and file/download one call at a time),
// ported line for line to Go so the benchmark compares like with like. It
// reads AL_URL, AL_USER, AL_APIKEY, OUTPUT_DIR and SCORE_THRESHOLD.
func Naive() error {
	host := os.Getenv("AL_URL")
	threshold, err := strconv.ParseInt(os.Getenv("SCORE_THRESHOLD"), 10, 64)
	if err != nil {
		return fmt.Errorf("SCORE_THRESHOLD: %w", err)
	}
	out := os.Getenv("OUTPUT_DIR")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Minute}
	do := func(method, url string, body []byte) (*http.Response, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, url, rd)
		if err != nil {
			return nil, err
		}
		req.Header.Set("x-user", os.Getenv("AL_USER"))
		req.Header.Set("x-apikey", os.Getenv("AL_APIKEY"))
		req.Header.Set("accept", "application/json")
		req.Header.Set("content-type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return nil, fmt.Errorf("%s %s: %s %s", method, url, resp.Status, b)
		}
		return resp, nil
	}
	getJSON := func(method, url string, body []byte) (map[string]any, error) {
		resp, err := do(method, url, body)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var env map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			return nil, err
		}
		r, _ := env["api_response"].(map[string]any)
		return r, nil
	}

	// client.search.stream.submission(query=..., fl='sid'): pages of 100.
	pageID := "*"
	for {
		body, _ := json.Marshal(map[string]any{"query": fmt.Sprintf("max_score:>=%d", threshold), "fl": "sid", "rows": 100, "deep_paging_id": pageID})
		page, err := getJSON(http.MethodPost, host+"/api/v4/search/submission/", body)
		if err != nil {
			return err
		}
		items, _ := page["items"].([]any)
		for _, it := range items {
			sid, _ := it.(map[string]any)["sid"].(string)
			full, err := getJSON(http.MethodGet, host+"/api/v4/submission/full/"+sid+"/", nil)
			if err != nil {
				return err
			}
			scores := map[string]float64{}
			results, _ := full["results"].(map[string]any)
			for _, r := range results {
				rm := r.(map[string]any)
				sha, _ := rm["sha256"].(string)
				score, _ := rm["result"].(map[string]any)["score"].(float64)
				scores[sha] += score
			}
			for sha, score := range scores {
				if score < float64(threshold) {
					continue
				}
				resp, err := do(http.MethodGet, host+"/api/v4/file/download/"+sha+"/?encoding=cart", nil)
				if err != nil {
					return err
				}
				raw, err := io.ReadAll(resp.Body) // requests without stream=True
				resp.Body.Close()
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(out, sha+".cart"), raw, 0o644); err != nil {
					return err
				}
			}
		}
		next, _ := page["next_deep_paging_id"].(string)
		if next == "" || len(items) == 0 {
			return nil
		}
		pageID = next
	}
}
