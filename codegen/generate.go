package codegen

import (
	"cmp"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/parley-go/parley/jsruntime"
)

// File is a generated file.
type File struct {
	// Name is the file's base name, such as "chat_parley.go", to be
	// written in the package's directory; or, from Declarations, its
	// slash-separated path in the declarations' directory, such as
	// "interface/Chat.d.ts".
	Name string
	// Content is the file's text.
	Content []byte
}

// LoadMode is what Generate needs go/packages to load.
const LoadMode = packages.NeedName | packages.NeedFiles | packages.NeedCompiledGoFiles |
	packages.NeedImports | packages.NeedTypes | packages.NeedSyntax | packages.NeedTypesInfo |
	packages.NeedModule

// Generate returns the files generated for the interfaces of pkg marked
// //parley:service or //parley:client: one NAME_parley.go per source file
// NAME.go that has any, sorted by name. pkg must be loaded with LoadMode
// and have no errors.
//
// When it refuses a declaration, Generate returns no files and an Errors
// listing every refusal: a type that does not compile with the type
// checker's errors, and a generated name that a file of the package, other
// than those Generate returns, declares already.
func Generate(pkg *packages.Package) ([]File, error) {
	if err := checkLoaded(pkg); err != nil {
		return nil, err
	}
	m, err := analyze(pkg)
	if err != nil {
		return nil, withTypeErrors(pkg, err)
	}
	var out []File
	for _, sf := range m.files {
		content, err := goFile(m, sf)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: strings.TrimSuffix(sf.base, ".go") + "_parley.go", Content: content})
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	if err := checkClashes(pkg, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Declarations returns the TypeScript declarations of the services of
// pkg, for building pages with tsc or a bundler: "engine.d.ts", the
// runtime's, and "interface/NAME.d.ts" for each //parley:service
// interface, sorted by name. Each File's Name is a slash-separated path
// relative to one directory, laid out as the server serves the files
// under /parley/, so the relative imports between them resolve. The
// content is what the server serves. pkg must be loaded as for Generate,
// which refuses the same declarations.
func Declarations(pkg *packages.Package) ([]File, error) {
	if err := checkLoaded(pkg); err != nil {
		return nil, err
	}
	m, err := analyze(pkg)
	if err != nil {
		return nil, withTypeErrors(pkg, err)
	}
	out := []File{{Name: "engine.d.ts", Content: jsruntime.Types}}
	for _, sf := range m.files {
		for _, it := range sf.ifaces {
			if it.kind == service {
				out = append(out, File{Name: "interface/" + it.name + ".d.ts", Content: []byte(typesTS(sf.base, it, m.clients))})
			}
		}
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// checkClashes refuses every top-level name of the generated files (and
// method of a generated type) that a file of the package declares too,
// leaving out the files being generated, which are replaced.
func checkClashes(pkg *packages.Package, out []File) error {
	fset := token.NewFileSet()
	generated := map[string]string{} // name → generated file
	replaced := map[string]bool{}
	for _, f := range out {
		replaced[f.Name] = true
		file, err := parser.ParseFile(fset, f.Name, f.Content, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("codegen: parsing the generated %s: %w", f.Name, err)
		}
		for name := range declaredNames(file) {
			generated[name] = f.Name
		}
	}
	errs := &errorList{fset: pkg.Fset}
	for _, file := range pkg.Syntax {
		if replaced[filepath.Base(pkg.Fset.Position(file.Package).Filename)] {
			continue
		}
		for name, id := range declaredNames(file) {
			if gen, ok := generated[name]; ok {
				errs.add(id.Pos(), "%s is declared here and in the generated %s: rename it", name, gen)
			}
		}
	}
	return errs.err()
}

// declaredNames returns the names a file declares in its package's scope,
// and its methods as RECEIVER.NAME.
func declaredNames(file *ast.File) map[string]*ast.Ident {
	out := map[string]*ast.Ident{}
	add := func(prefix string, id *ast.Ident) {
		if id.Name != "_" {
			out[prefix+id.Name] = id
		}
	}
	for _, d := range file.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			switch {
			case d.Recv != nil && len(d.Recv.List) == 1:
				if recv := receiverName(d.Recv.List[0].Type); recv != "" {
					add(recv+".", d.Name)
				}
			case d.Recv == nil && d.Name.Name != "init":
				add("", d.Name)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					add("", spec.Name)
				case *ast.ValueSpec:
					for _, id := range spec.Names {
						add("", id)
					}
				}
			}
		}
	}
	return out
}

// receiverName returns the name of a method's receiver type, T of T, *T,
// T[P] or *T[P].
func receiverName(x ast.Expr) string {
	for {
		switch e := x.(type) {
		case *ast.StarExpr:
			x = e.X
		case *ast.IndexExpr:
			x = e.X
		case *ast.IndexListExpr:
			x = e.X
		case *ast.ParenExpr:
			x = e.X
		case *ast.Ident:
			return e.Name
		default:
			return ""
		}
	}
}

// withTypeErrors replaces, in the refusals err lists, the reason of a type
// that does not compile with the type checker's errors on the same line.
// When some such refusal has none on its line, the package's type errors
// are listed after the refusals.
func withTypeErrors(pkg *packages.Package, err error) error {
	var list Errors
	if !errors.As(err, &list) {
		return err
	}
	type line struct {
		file string
		line int
	}
	byLine := map[line][]string{}
	var typeErrs Errors
	for _, e := range pkg.Errors {
		if e.Kind != packages.TypeError {
			continue
		}
		pos := parsePosition(e.Pos)
		byLine[line{pos.Filename, pos.Line}] = append(byLine[line{pos.Filename, pos.Line}], e.Msg)
		typeErrs = append(typeErrs, &Error{Pos: pos, Msg: e.Msg})
	}
	out := make(Errors, 0, len(list))
	unexplained := false
	for _, e := range list {
		if prefix, ok := strings.CutSuffix(e.Msg, notCompiling); ok {
			if why := byLine[line{e.Pos.Filename, e.Pos.Line}]; len(why) > 0 {
				e = &Error{Pos: e.Pos, Msg: prefix + strings.Join(why, "; ")}
			} else {
				unexplained = true
			}
		}
		out = append(out, e)
	}
	if unexplained {
		slices.SortStableFunc(typeErrs, func(a, b *Error) int {
			return cmp.Or(cmp.Compare(a.Pos.Filename, b.Pos.Filename), cmp.Compare(a.Pos.Line, b.Pos.Line))
		})
		out = append(out, typeErrs...)
	}
	return out
}

// parsePosition parses the position of a packages.Error: "file:line:col",
// "file:line" or "file".
func parsePosition(s string) token.Position {
	var pos token.Position
	rest := s
	for range 2 {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			break
		}
		n, err := strconv.Atoi(rest[i+1:])
		if err != nil {
			break
		}
		pos.Column, pos.Line = pos.Line, n
		rest = rest[:i]
	}
	pos.Filename = rest
	return pos
}

// checkLoaded reports a package that Generate cannot work from.
func checkLoaded(pkg *packages.Package) error {
	var errs []error
	for _, e := range pkg.Errors {
		if e.Kind == packages.ParseError {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if pkg.Types == nil || pkg.TypesInfo == nil || pkg.Fset == nil || len(pkg.Syntax) == 0 {
		return fmt.Errorf("codegen: package %s was not loaded with codegen.LoadMode", pkg.PkgPath)
	}
	return nil
}
