// Package bytesize words a number of bytes for people, the one way every
// report, status line and check prints a size.
package bytesize

import "fmt"

// Format returns n in binary units with one decimal ("1.5 MiB"), or in
// bytes below one KiB ("512 B").
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
