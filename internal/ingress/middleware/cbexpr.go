package middleware

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
)

// The circuit breaker's expression language (Traefik's, from vulcand/oxy):
// comparisons of metric functions with numbers, joined by && and ||, in
// parentheses as needed:
//
//	NetworkErrorRatio() > 0.30
//	ResponseCodeRatio(500, 600, 0, 600) > 0.25 || LatencyAtQuantileMS(50.0) > 100
//
// It is parsed once, with go/parser as the router rules are, into a
// predicate over the window's metrics.

type predicate func(m *cbMetrics) bool

type metricFunc func(m *cbMetrics) float64

// maxCBComparisons bounds an expression: it is evaluated under the
// breaker's lock every checkPeriod, each metric summing the window's
// counters.
const maxCBComparisons = 16

func parseCBExpression(s string) (predicate, error) {
	e, err := parser.ParseExpr(s)
	if err != nil {
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		return nil, fmt.Errorf("%q does not parse: %v", s, err)
	}
	n := 0
	return cbPredicate(e, &n)
}

// cbPredicate builds e; n counts the comparisons built so far.
func cbPredicate(e ast.Expr, n *int) (predicate, error) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return cbPredicate(e.X, n)
	case *ast.BinaryExpr:
		switch e.Op {
		case token.LAND, token.LOR:
			a, err := cbPredicate(e.X, n)
			if err != nil {
				return nil, err
			}
			b, err := cbPredicate(e.Y, n)
			if err != nil {
				return nil, err
			}
			if e.Op == token.LAND {
				return func(m *cbMetrics) bool { return a(m) && b(m) }, nil
			}
			return func(m *cbMetrics) bool { return a(m) || b(m) }, nil
		case token.GTR, token.GEQ, token.LSS, token.LEQ, token.EQL, token.NEQ:
			if *n++; *n > maxCBComparisons {
				return nil, fmt.Errorf("at most %d comparisons", maxCBComparisons)
			}
			return cbComparison(e)
		}
	}
	return nil, fmt.Errorf("want a comparison such as NetworkErrorRatio() > 0.5, joined by && or ||")
}

func cbComparison(e *ast.BinaryExpr) (predicate, error) {
	op := e.Op
	f, fErr := cbMetric(e.X)
	n, nErr := cbNumber(e.Y)
	if fErr != nil || nErr != nil {
		// The number may come first: 0.5 < NetworkErrorRatio().
		var err2 error
		if f, err2 = cbMetric(e.Y); err2 != nil {
			if fErr != nil {
				return nil, fErr
			}
			return nil, nErr
		}
		if n, err2 = cbNumber(e.X); err2 != nil {
			return nil, err2
		}
		op = map[token.Token]token.Token{token.GTR: token.LSS, token.GEQ: token.LEQ, token.LSS: token.GTR, token.LEQ: token.GEQ, token.EQL: token.EQL, token.NEQ: token.NEQ}[op]
	}
	return func(m *cbMetrics) bool {
		v := f(m)
		switch op {
		case token.GTR:
			return v > n
		case token.GEQ:
			return v >= n
		case token.LSS:
			return v < n
		case token.LEQ:
			return v <= n
		case token.EQL:
			return v == n
		}
		return v != n
	}, nil
}

func cbNumber(e ast.Expr) (float64, error) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || (lit.Kind != token.INT && lit.Kind != token.FLOAT) {
		return 0, fmt.Errorf("want a number to compare with")
	}
	return strconv.ParseFloat(lit.Value, 64)
}

func cbMetric(e ast.Expr) (metricFunc, error) {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return nil, fmt.Errorf("want NetworkErrorRatio(), ResponseCodeRatio(from, to, dFrom, dTo) or LatencyAtQuantileMS(q)")
	}
	name, _ := call.Fun.(*ast.Ident)
	var args []float64
	for _, a := range call.Args {
		n, err := cbNumber(a)
		if err != nil {
			return nil, fmt.Errorf("arguments must be numbers")
		}
		args = append(args, n)
	}
	switch {
	case name == nil:
	case name.Name == "NetworkErrorRatio" && len(args) == 0:
		return (*cbMetrics).networkErrorRatio, nil
	case name.Name == "ResponseCodeRatio" && len(args) == 4:
		from, to, dFrom, dTo := int(args[0]), int(args[1]), int(args[2]), int(args[3])
		if from >= to || dFrom >= dTo || from < 0 || dFrom < 0 {
			return nil, fmt.Errorf("ResponseCodeRatio(from, to, dFrom, dTo) wants from < to and dFrom < dTo")
		}
		return func(m *cbMetrics) float64 { return m.responseCodeRatio(from, to, dFrom, dTo) }, nil
	case name.Name == "LatencyAtQuantileMS" && len(args) == 1:
		q := args[0]
		if q <= 0 || q > 100 {
			return nil, fmt.Errorf("LatencyAtQuantileMS(q) wants 0 < q <= 100")
		}
		return func(m *cbMetrics) float64 { return m.latencyAtQuantileMS(q) }, nil
	}
	return nil, fmt.Errorf("unknown metric; want NetworkErrorRatio(), ResponseCodeRatio(from, to, dFrom, dTo) or LatencyAtQuantileMS(q)")
}
