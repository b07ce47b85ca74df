package event

import "fmt"

// Bytes renders a size in binary units ("512 B", "1.5 KiB", "312 MiB"):
// the engine's progress lines and the console show sizes the same way.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v < 10 {
		return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[exp])
	}
	return fmt.Sprintf("%.0f %ciB", v, "KMGTP"[exp])
}
