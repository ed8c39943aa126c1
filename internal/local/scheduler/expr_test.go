package scheduler

import (
	"testing"
	"time"
)

func TestParseExpression(t *testing.T) {
	tests := []struct {
		name  string
		expr  string
		valid bool
	}{
		{"rate one minute", "rate(1 minute)", true},
		{"rate minutes", "rate(5 minutes)", true},
		{"rate count and unit disagree", "rate(2 minute)", true},
		{"rate hours", "rate(1 hours)", true},
		{"rate days", "rate(3 days)", true},
		{"rate seconds", "rate(10 seconds)", false},
		{"rate years", "rate(10 years)", false},
		{"rate empty", "rate()", false},
		{"rate no unit", "rate(10)", false},
		{"rate unit typo", "rate(10 minutess)", false},
		{"rate not a number", "rate(foo minutes)", false},
		{"rate negative", "rate(-10 minutes)", false},
		{"rate zero", "rate(0 minutes)", false},
		{"rate inner spaces", "rate( 10 minutes )", false},
		{"rate leading space", " rate(10 minutes)", false},
		{"at", "at(2026-01-15T10:00:00)", true},
		{"at with zone", "at(2021-12-31T23:59:59Z)", false},
		{"at date only", "at(2021-12-31)", false},
		{"at bad date", "at(2026-02-30T10:00:00)", false},
		{"cron every minute", "cron(* * ? * * *)", true},
		{"cron weekdays", "cron(0 8 ? * MON-FRI *)", true},
		{"cron steps", "cron(0/15 9-17 * * ? *)", true},
		{"cron last day", "cron(0 0 L * ? *)", true},
		{"cron nth weekday", "cron(0 0 ? * 2#1 *)", true},
		{"cron both days", "cron(0 1 * * * *)", false},
		{"cron bad weekday", "cron(7 20 * * NOT *)", false},
		{"cron empty", "cron(INVALID)", false},
		{"cron bad hour", "cron(0 dummy ? * MON-FRI *)", false},
		{"cron bad minute", "cron(71 8 1 * ? *)", false},
		{"cron no fields", "cron()", false},
		{"cron five fields", "cron(0 8 * * ?)", false},
		{"other", "every(5 minutes)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseExpression(tt.expr, time.UTC)
			if (err == nil) != tt.valid {
				t.Errorf("parseExpression(%q) = %v, want valid %v", tt.expr, err, tt.valid)
			}
		})
	}
}

func TestNextFireTime(t *testing.T) {
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 15, 10, 7, 30, 0, time.UTC) // a Thursday
	tests := []struct {
		name  string
		expr  string
		loc   *time.Location
		after time.Time
		want  []time.Time // the next fire times, in order
	}{
		{"rate one minute", "rate(1 minute)", time.UTC, base, []time.Time{base.Add(time.Minute), base.Add(2 * time.Minute)}},
		{"rate two hours", "rate(2 hours)", time.UTC, base, []time.Time{base.Add(2 * time.Hour), base.Add(4 * time.Hour)}},
		{"at once", "at(2026-01-15T11:00:00)", time.UTC, base, []time.Time{time.Date(2026, 1, 15, 11, 0, 0, 0, time.UTC)}},
		{"at in a zone", "at(2026-01-15T11:00:00)", newYork, base, []time.Time{time.Date(2026, 1, 15, 16, 0, 0, 0, time.UTC)}},
		{"cron every minute", "cron(* * ? * * *)", time.UTC, base, []time.Time{
			time.Date(2026, 1, 15, 10, 8, 0, 0, time.UTC), time.Date(2026, 1, 15, 10, 9, 0, 0, time.UTC),
		}},
		{"cron quarter hours", "cron(0/15 * * * ? *)", time.UTC, base, []time.Time{
			time.Date(2026, 1, 15, 10, 15, 0, 0, time.UTC), time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC),
		}},
		{"cron weekdays at 8", "cron(0 8 ? * MON-FRI *)", time.UTC, base, []time.Time{
			time.Date(2026, 1, 16, 8, 0, 0, 0, time.UTC), time.Date(2026, 1, 19, 8, 0, 0, 0, time.UTC),
		}},
		{"cron in a zone", "cron(0 8 * * ? *)", newYork, base, []time.Time{
			time.Date(2026, 1, 15, 13, 0, 0, 0, time.UTC), time.Date(2026, 1, 16, 13, 0, 0, 0, time.UTC), // 08:00 EST
		}},
		{"cron last day of month", "cron(0 0 L * ? *)", time.UTC, base, []time.Time{
			time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC),
		}},
		{"cron first Monday", "cron(0 9 ? * 2#1 *)", time.UTC, base, []time.Time{
			time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		}},
		{"cron last Friday", "cron(0 9 ? * 6L *)", time.UTC, base, []time.Time{
			time.Date(2026, 1, 30, 9, 0, 0, 0, time.UTC), time.Date(2026, 2, 27, 9, 0, 0, 0, time.UTC),
		}},
		{"cron nearest weekday", "cron(0 9 1W * ? *)", time.UTC, base, []time.Time{
			time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		}},
		{"cron month names and year", "cron(30 6 1 MAR,SEP ? 2027)", time.UTC, base, []time.Time{
			time.Date(2027, 3, 1, 6, 30, 0, 0, time.UTC), time.Date(2027, 9, 1, 6, 30, 0, 0, time.UTC),
		}},
		{"cron never again", "cron(0 0 1 1 ? 2020)", time.UTC, base, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := parseExpression(tt.expr, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			next, ok := e.first(tt.after)
			for i, want := range tt.want {
				if !ok || !next.Equal(want) {
					t.Fatalf("fire %d = %v (%v), want %v", i, next.UTC(), ok, want)
				}
				next, ok = e.after(next)
			}
			if len(tt.want) == 0 && ok {
				t.Errorf("fires at %v, want never", next)
			}
			if !e.recurring() && ok && len(tt.want) > 0 {
				t.Errorf("at() fires again at %v", next)
			}
		})
	}
}

// FuzzExpression parses any expression and walks a few fire times: no panic, and fire
// times only move forward.
func FuzzExpression(f *testing.F) {
	for _, s := range []string{"rate(1 minute)", "at(2026-01-15T10:00:00)", "cron(0/15 9-17 ? * MON-FRI *)",
		"cron(0 0 L * ? *)", "cron(0 9 ? * 6L 2030-2040)", "cron(0 9 15W 2 ? *)", "cron(* * 31 2 ? *)"} {
		f.Add(s)
	}
	base := time.Date(2026, 1, 15, 10, 7, 30, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseExpression(s, time.UTC)
		if err != nil {
			return
		}
		prev := base
		next, ok := e.first(base)
		for i := 0; ok && i < 3; i++ {
			if !next.After(prev) && e.recurring() {
				t.Fatalf("%s: fire time %v does not follow %v", s, next, prev)
			}
			prev = next
			next, ok = e.after(next)
		}
	})
}
