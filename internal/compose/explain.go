package compose

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/shoalproject/shoal/api"
)

// ---- explaining compose-go's errors ----

// explain records a failure of compose-go with every problem the files
// have: compose-go stops at the first schema error and gives no line, so
// the files are checked again here, each problem with its position.
func (l *loadState) explain(err error) {
	var lp *loaderPanic
	if errors.As(err, &lp) {
		l.fail(err)
		return
	}
	diag, diagPaths := l.diagnose()
	l.reportDiagnosis()
	diagText := make([]string, len(diag))
	for i, d := range diag {
		diagText[i] = d.Error()
	}
	covered := func(msg string) bool {
		for _, d := range diagText {
			if strings.Contains(d, msg) {
				return true
			}
		}
		// A message about a path the checks above found a problem at.
		if segs := messagePath(msg); segs != nil {
			for _, d := range diagPaths {
				if d == strings.Join(segs, ".") {
					return true
				}
			}
		}
		return false
	}
	for _, e := range api.SplitErrors(err) {
		msg := l.displayNames(e.Error())
		if strings.HasPrefix(msg, "validating ") && len(diag) > 0 {
			// The schema check above lists this one and the others.
			continue
		}
		if strings.HasPrefix(msg, "decoding failed due to the following error(s):") {
			lines := strings.Split(msg, "\n")[1:]
			sort.Strings(lines) // mapstructure follows map order
			for _, line := range lines {
				line = strings.TrimSpace(line)
				if line == "" {
					continue
				}
				segs, rest := decodePath(line)
				if covered(rest) {
					continue
				}
				if segs != nil {
					l.fail(l.at(segs, "%s", rest))
				} else {
					l.fail(errors.New(line))
				}
			}
			continue
		}
		if covered(msg) {
			continue
		}
		l.fail(l.locateMessage(msg))
	}
}

// decodePath reads a mapstructure error line:
// 'services[web].healthcheck.timeout' time: unknown unit "y" ...
func decodePath(line string) ([]string, string) {
	if !strings.HasPrefix(line, "'") {
		return nil, line
	}
	end := strings.Index(line[1:], "'")
	if end < 0 {
		return nil, line
	}
	p := line[1 : end+1]
	rest := strings.TrimSpace(line[end+2:])
	p = strings.NewReplacer("[", ".", "]", "").Replace(p)
	return strings.Split(p, "."), rest
}

var messagePathRE = regexp.MustCompile(`\b((?:services|networks|volumes|configs|secrets)\.[A-Za-z0-9_.\-\[\]]+)`)

// locateMessage prefixes a compose-go message that names a path with the
// path's position.
func (l *loadState) locateMessage(msg string) error {
	if strings.Contains(msg, "line ") {
		return errors.New(msg)
	}
	segs := messagePath(msg)
	if segs == nil {
		return errors.New(msg)
	}
	if loc := l.locate(segs); loc != "" {
		return fmt.Errorf("%s: %s", loc, msg)
	}
	return errors.New(msg)
}

// messagePath finds the model path a compose-go message names.
func messagePath(msg string) []string {
	m := messagePathRE.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	p := strings.TrimRight(m[1], ".")
	p = strings.NewReplacer("[]", "", "[", ".", "]", "").Replace(p)
	var segs []string
	for _, s := range strings.Split(p, ".") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return segs
}

// displayNames puts the files' names as the user gave them into a
// compose-go message, which uses absolute paths.
func (l *loadState) displayNames(msg string) string {
	for _, f := range l.files {
		if f.path == "-" {
			msg = strings.ReplaceAll(msg, "failed to parse -:", "failed to parse stdin:")
			msg = strings.ReplaceAll(msg, "validating -:", "validating stdin:")
			continue
		}
		if f.path != f.name {
			msg = strings.ReplaceAll(msg, f.path, f.name)
		}
	}
	return msg
}
