package rollout

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads "90s", "5m", "1h", "1h30m" (Go's syntax, without fractions below a
// second) or a plain number of seconds.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > int64(maxDuration/time.Second) {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		return Duration(time.Duration(n) * time.Second), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a number and a unit, like 90s, 5m or 1h", s)
	}
	if d < 0 || d > maxDuration {
		return 0, fmt.Errorf("duration %q out of range", s)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("duration %q: whole seconds only", s)
	}
	return Duration(d), nil
}

// maxDuration bounds every duration a policy may hold: 7 days.
const maxDuration = 7 * 24 * time.Hour

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String writes the duration the short way: 90s, 5m, 1h30m.
func (d Duration) String() string {
	td := time.Duration(d)
	if td == 0 {
		return "0s"
	}
	if td < 0 || td%time.Second != 0 {
		// Not a policy duration (those are whole seconds): say what it is rather than
		// print nothing in an error message.
		return td.String()
	}
	var b strings.Builder
	if h := td / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		td -= h * time.Hour
	}
	if m := td / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
		td -= m * time.Minute
	}
	if s := td / time.Second; s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}

// MarshalJSON writes the short form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "5m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a duration like \"5m\", got %s", b)
		}
		s = n.String()
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
