package intkernels

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// kernelFiles are the files under the no-multiplication rule (see the package doc).
var kernelFiles = []string{"common.go", "shift.go", "add.go"}

// checkNoDataMultiplication returns a description of every violation of the rule in src:
// a `*`, `/` or `%` (or `*=`, `/=`, `%=`) with an operand that reads tensor data, i.e.
// contains an index expression or a variable tainted by one (assigned from such an
// expression, directly or transitively, or a range value), and any call of a
// package-qualified function.
func checkNoDataMultiplication(t *testing.T, fset *token.FileSet, f *ast.File) []string {
	t.Helper()
	imports := map[string]bool{}
	for _, imp := range f.Imports {
		p := strings.Trim(imp.Path.Value, `"`)
		name := p[strings.LastIndex(p, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		imports[name] = true
	}
	var bad []string
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		tainted := map[string]bool{}
		var hasTaint func(e ast.Node) bool
		hasTaint = func(e ast.Node) bool {
			found := false
			ast.Inspect(e, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.IndexExpr:
					found = true
				case *ast.Ident:
					if tainted[n.Name] {
						found = true
					}
				}
				return !found
			})
			return found
		}
		// Propagate taint to a fixed point.
		for changed := true; changed; {
			changed = false
			mark := func(e ast.Expr) {
				if id, ok := e.(*ast.Ident); ok && id.Name != "_" && !tainted[id.Name] {
					tainted[id.Name] = true
					changed = true
				}
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.AssignStmt:
					for i, lhs := range n.Lhs {
						rhs := n.Rhs[0]
						if len(n.Rhs) == len(n.Lhs) {
							rhs = n.Rhs[i]
						}
						if hasTaint(rhs) {
							mark(lhs)
						}
					}
				case *ast.ValueSpec:
					for _, v := range n.Values {
						if hasTaint(v) {
							for _, name := range n.Names {
								mark(name)
							}
						}
					}
				case *ast.RangeStmt:
					if n.Value != nil {
						mark(n.Value)
					}
				}
				return true
			})
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BinaryExpr:
				if (n.Op == token.MUL || n.Op == token.QUO || n.Op == token.REM) && (hasTaint(n.X) || hasTaint(n.Y)) {
					bad = append(bad, fset.Position(n.Pos()).String()+": "+n.Op.String()+" on data in "+fn.Name.Name)
				}
			case *ast.AssignStmt:
				if n.Tok == token.MUL_ASSIGN || n.Tok == token.QUO_ASSIGN || n.Tok == token.REM_ASSIGN {
					bad = append(bad, fset.Position(n.Pos()).String()+": "+n.Tok.String()+" in "+fn.Name.Name)
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && imports[id.Name] && id.Name != "fmt" {
						bad = append(bad, fset.Position(n.Pos()).String()+": call of "+id.Name+"."+sel.Sel.Name+" in "+fn.Name.Name)
					}
				}
			}
			return true
		})
	}
	return bad
}

func TestNoMultiplicationOnData(t *testing.T) {
	fset := token.NewFileSet()
	for _, name := range kernelFiles {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range checkNoDataMultiplication(t, fset, f) {
			t.Errorf("%s", b)
		}
	}
}

// TestRuleCatchesViolations makes sure the checker is not vacuous.
func TestRuleCatchesViolations(t *testing.T) {
	src := `package p
import "math"
func bad1(x []int32, i int) int32 { return x[i] * 2 }
func bad2(x []int32, i int) int32 { v := x[i]; u := v + 1; return u * 3 }
func bad3(x []int32) (s int32) { for _, v := range x { s += v / 2 }; return }
func bad4(x []int32, i int) { x[i] *= 2 }
func bad5(x float64) float64 { return math.Ldexp(x, 2) }
func bad6(x []int32, i int) int32 { var v = x[i]; return 5 % v }
func ok(n, h, w, c, i, j int, x []int32) int32 { idx := ((n*h+i)*w + j) * c; return x[idx] << 2 }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	bad := checkNoDataMultiplication(t, fset, f)
	for _, fn := range []string{"bad1", "bad2", "bad3", "bad4", "bad5", "bad6"} {
		found := false
		for _, b := range bad {
			if strings.HasSuffix(b, " "+fn) {
				found = true
			}
		}
		if !found {
			t.Errorf("violation in %s not detected (found %v)", fn, bad)
		}
	}
	for _, b := range bad {
		if strings.HasSuffix(b, " ok") {
			t.Errorf("index arithmetic flagged: %s", b)
		}
	}
}
