package scheduler

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// expression is a parsed schedule expression.
type expression interface {
	// first is the first fire time of a schedule made (or updated) at anchor.
	first(anchor time.Time) (time.Time, bool)
	// after is the first fire time strictly after t.
	after(t time.Time) (time.Time, bool)
	recurring() bool
}

var (
	ratePattern = regexp.MustCompile(`^rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)$`)
	atPattern   = regexp.MustCompile(`^at\(([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\)$`)
	cronPattern = regexp.MustCompile(`^cron\((.*)\)$`)
)

// parseExpression reads rate(), at() and cron() as EventBridge Scheduler does; loc is the
// ScheduleExpressionTimezone that at() and cron() are read in. AWS accepts a count that
// disagrees with the unit's number, such as rate(2 minute).
func parseExpression(s string, loc *time.Location) (expression, error) {
	if m := ratePattern.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, err
		}
		unit := time.Minute
		switch strings.TrimSuffix(m[2], "s") {
		case "hour":
			unit = time.Hour
		case "day":
			unit = 24 * time.Hour
		}
		return rate{period: time.Duration(n) * unit}, nil
	}
	if m := atPattern.FindStringSubmatch(s); m != nil {
		t, err := time.ParseInLocation("2006-01-02T15:04:05", m[1], loc)
		if err != nil {
			return nil, err
		}
		return at{t: t}, nil
	}
	if m := cronPattern.FindStringSubmatch(s); m != nil {
		return parseCron(m[1], loc)
	}
	return nil, fmt.Errorf("not rate(), at() or cron()")
}

// rate fires every period, the first time one period after the schedule is made.
type rate struct{ period time.Duration }

func (r rate) first(anchor time.Time) (time.Time, bool) { return anchor.Add(r.period), true }
func (r rate) after(t time.Time) (time.Time, bool)      { return t.Add(r.period), true }
func (r rate) recurring() bool                          { return true }

// at fires once. A time already past fires at once (unconfirmed on AWS; firing is the
// forgiving choice on a virtual clock that runs ahead of the wall clock).
type at struct{ t time.Time }

func (a at) first(time.Time) (time.Time, bool) { return a.t, true }
func (a at) after(time.Time) (time.Time, bool) { return time.Time{}, false }
func (a at) recurring() bool                   { return false }

// cron is a six-field cron expression: minutes hours day-of-month month day-of-week year.
type cron struct {
	minutes, hours, months, years fieldSet
	dom                           dayOfMonth
	dow                           dayOfWeek
	loc                           *time.Location
}

type fieldSet map[int]bool

type dayOfMonth struct {
	any      bool // ?
	days     fieldSet
	last     bool // L
	weekday  int  // nW: the weekday nearest to day n; 0 when unused
	lastWeek bool // LW
}

type dayOfWeek struct {
	any  bool // ?
	days fieldSet
	last int // nL: the last weekday n of the month; 0 when unused
	nth  [2]int
}

const (
	minYear = 1970
	maxYear = 2199
)

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dayNames   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

func parseCron(body string, loc *time.Location) (expression, error) {
	fields := strings.Split(body, " ")
	if len(fields) != 6 {
		return nil, fmt.Errorf("cron needs 6 fields")
	}
	var c cron
	var err error
	c.loc = loc
	if c.minutes, err = parseField(fields[0], 0, 59, nil); err != nil {
		return nil, err
	}
	if c.hours, err = parseField(fields[1], 0, 23, nil); err != nil {
		return nil, err
	}
	if c.months, err = parseField(fields[3], 1, 12, monthNames); err != nil {
		return nil, err
	}
	if c.years, err = parseField(fields[5], minYear, maxYear, nil); err != nil {
		return nil, err
	}
	if c.dom, err = parseDayOfMonth(fields[2]); err != nil {
		return nil, err
	}
	if c.dow, err = parseDayOfWeek(fields[4]); err != nil {
		return nil, err
	}
	// One of day-of-month and day-of-week must be ?, and only one.
	if c.dom.any == c.dow.any {
		return nil, fmt.Errorf("exactly one of day-of-month and day-of-week must be ?")
	}
	return c, nil
}

// parseField reads a list of *, n, a-b and x/step items (names allowed).
func parseField(s string, lo, hi int, names map[string]int) (fieldSet, error) {
	set := fieldSet{}
	for _, item := range strings.Split(s, ",") {
		base, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("bad step %q", item)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case base == "*":
		case strings.Contains(base, "-"):
			a, b, _ := strings.Cut(base, "-")
			var err error
			if from, err = fieldValue(a, lo, hi, names); err != nil {
				return nil, err
			}
			if to, err = fieldValue(b, lo, hi, names); err != nil {
				return nil, err
			}
			if to < from {
				return nil, fmt.Errorf("bad range %q", item)
			}
		default:
			v, err := fieldValue(base, lo, hi, names)
			if err != nil {
				return nil, err
			}
			from = v
			if !hasStep {
				to = v
			}
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return set, nil
}

func fieldValue(s string, lo, hi int, names map[string]int) (int, error) {
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("bad value %q", s)
	}
	return v, nil
}

func parseDayOfMonth(s string) (dayOfMonth, error) {
	switch {
	case s == "?":
		return dayOfMonth{any: true}, nil
	case s == "L":
		return dayOfMonth{last: true}, nil
	case s == "LW":
		return dayOfMonth{lastWeek: true}, nil
	case strings.HasSuffix(s, "W"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "W"))
		if err != nil || n < 1 || n > 31 {
			return dayOfMonth{}, fmt.Errorf("bad day-of-month %q", s)
		}
		return dayOfMonth{weekday: n}, nil
	}
	days, err := parseField(s, 1, 31, nil)
	return dayOfMonth{days: days}, err
}

func parseDayOfWeek(s string) (dayOfWeek, error) {
	switch {
	case s == "?":
		return dayOfWeek{any: true}, nil
	case s == "L":
		return dayOfWeek{days: fieldSet{7: true}}, nil
	case strings.HasSuffix(s, "L"):
		n, err := fieldValue(strings.TrimSuffix(s, "L"), 1, 7, dayNames)
		if err != nil {
			return dayOfWeek{}, err
		}
		return dayOfWeek{last: n}, nil
	case strings.Contains(s, "#"):
		a, b, _ := strings.Cut(s, "#")
		d, err := fieldValue(a, 1, 7, dayNames)
		if err != nil {
			return dayOfWeek{}, err
		}
		k, err := strconv.Atoi(b)
		if err != nil || k < 1 || k > 5 {
			return dayOfWeek{}, fmt.Errorf("bad day-of-week %q", s)
		}
		return dayOfWeek{nth: [2]int{d, k}}, nil
	}
	days, err := parseField(s, 1, 7, dayNames)
	return dayOfWeek{days: days}, err
}

func (c cron) recurring() bool { return true }

func (c cron) first(anchor time.Time) (time.Time, bool) { return c.after(anchor) }

// after walks day by day from t (in the schedule's time zone) to the first matching day,
// then takes its first matching hour and minute.
func (c cron) after(t time.Time) (time.Time, bool) {
	local := t.In(c.loc)
	// Start at the next whole minute.
	start := local.Truncate(time.Minute).Add(time.Minute)
	day := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, c.loc)
	for day.Year() <= maxYear {
		y, m, d := day.Date()
		if !c.years[y] {
			day = time.Date(y+1, 1, 1, 0, 0, 0, 0, c.loc)
			continue
		}
		if !c.months[int(m)] {
			day = time.Date(y, m+1, 1, 0, 0, 0, 0, c.loc)
			continue
		}
		if c.dayMatches(y, m, d) {
			for h := 0; h < 24; h++ {
				if !c.hours[h] {
					continue
				}
				for mi := 0; mi < 60; mi++ {
					if !c.minutes[mi] {
						continue
					}
					at := time.Date(y, m, d, h, mi, 0, 0, c.loc)
					if !at.Before(start) && at.After(t) {
						return at, true
					}
				}
			}
		}
		day = time.Date(y, m, d+1, 0, 0, 0, 0, c.loc)
	}
	return time.Time{}, false
}

func (c cron) dayMatches(y int, m time.Month, d int) bool {
	last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
	if !c.dom.any {
		switch {
		case c.dom.last:
			return d == last
		case c.dom.lastWeek:
			return d == nearestWeekday(y, m, last, last)
		case c.dom.weekday > 0:
			return c.dom.weekday <= last && d == nearestWeekday(y, m, c.dom.weekday, last)
		}
		return c.dom.days[d]
	}
	weekday := int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday()) + 1 // SUN is 1
	switch {
	case c.dow.last > 0:
		return weekday == c.dow.last && d+7 > last
	case c.dow.nth[0] > 0:
		return weekday == c.dow.nth[0] && (d-1)/7+1 == c.dow.nth[1]
	}
	return c.dow.days[weekday]
}

// nearestWeekday is the weekday (Monday to Friday) nearest to day n, within the month.
func nearestWeekday(y int, m time.Month, n, last int) int {
	switch time.Date(y, m, n, 0, 0, 0, 0, time.UTC).Weekday() {
	case time.Saturday:
		if n == 1 {
			return 3
		}
		return n - 1
	case time.Sunday:
		if n == last {
			return n - 2
		}
		return n + 1
	}
	return n
}
