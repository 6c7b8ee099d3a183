package codegen

import (
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/packages"
)

// flagsDirective marks a named integer type as a set of bit flags: any
// combination of its constants is a valid value, so it travels as a plain
// number, unchecked, with its constants exported by name.
const flagsDirective = "//parley:flags"

// flagIndex tells which named types carry //parley:flags. It knows the
// types of the generated package from its syntax, and reads the source
// file of a type of another package of the module when asked about it.
type flagIndex struct {
	pkg  *types.Package
	fset *token.FileSet
	// marked holds the positions of the names of the marked types of the
	// generated package.
	marked map[token.Pos]bool
	// files holds, by file name, the lines of the names of the marked
	// types of other packages' files read so far.
	files map[string]map[int]string
	// foreign reads other packages' files, once each for docs and flags.
	foreign *foreignDocs
}

// newFlagIndex returns the flag index of pkg, reporting to errs every
// //parley:flags line that is not in the doc comment of a named integer
// type.
func newFlagIndex(pkg *packages.Package, errs *errorList, foreign *foreignDocs) *flagIndex {
	x := &flagIndex{pkg: pkg.Types, fset: pkg.Fset, foreign: foreign, marked: map[token.Pos]bool{}, files: map[string]map[int]string{}}
	for _, f := range pkg.Syntax {
		placed := map[*ast.Comment]bool{}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			if loneTypeSpec(gd) == nil {
				// refuseGroupDirective reports directives on a group.
				for _, c := range flagLines(gd.Doc) {
					placed[c] = true
				}
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				lines := flagLines(specDoc(gd, ts))
				if len(lines) == 0 {
					continue
				}
				for _, c := range lines {
					placed[c] = true
				}
				tn, _ := pkg.TypesInfo.Defs[ts.Name].(*types.TypeName)
				if tn == nil || !isIntegerType(tn) || ts.TypeParams != nil {
					errs.add(lines[0].Pos(), "%s: %s applies to named integer types only", ts.Name.Name, flagsDirective)
					continue
				}
				for _, c := range lines[1:] {
					errs.add(c.Pos(), "%s: more than one %s directive", ts.Name.Name, flagsDirective)
				}
				for _, c := range lines {
					if strings.TrimSpace(c.Text) != flagsDirective {
						errs.add(c.Pos(), "%s: %s takes no arguments", ts.Name.Name, flagsDirective)
					}
				}
				x.marked[ts.Name.Pos()] = true
			}
		}
		for _, cg := range f.Comments {
			for _, c := range flagLines(cg) {
				if !placed[c] {
					errs.add(c.Pos(), "%s must be in the doc comment of a named integer type", flagsDirective)
				}
			}
		}
	}
	return x
}

// isIntegerType reports whether tn is a defined type, not an alias, of an
// integer underlying type.
func isIntegerType(tn *types.TypeName) bool {
	if tn.IsAlias() {
		return false
	}
	b, ok := tn.Type().Underlying().(*types.Basic)
	return ok && b.Info()&types.IsInteger != 0
}

// specDoc returns the doc comment of the type spec ts of gd.
func specDoc(gd *ast.GenDecl, ts *ast.TypeSpec) *ast.CommentGroup {
	if ts.Doc == nil && loneTypeSpec(gd) != nil {
		return gd.Doc
	}
	return ts.Doc
}

// flagLines returns the //parley:flags lines of cg, which may be nil.
// A line with more after the directive is one too, to be refused.
func flagLines(cg *ast.CommentGroup) []*ast.Comment {
	var out []*ast.Comment
	for _, c := range commentLines(cg) {
		text := strings.TrimSpace(c.Text)
		if rest, ok := strings.CutPrefix(text, flagsDirective); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			out = append(out, c)
		}
	}
	return out
}

// isFlags reports whether the type obj carries //parley:flags.
func (x *flagIndex) isFlags(obj *types.TypeName) bool {
	if obj.Pkg() == x.pkg {
		return x.marked[obj.Pos()]
	}
	pos := x.fset.Position(obj.Pos())
	lines, read := x.files[pos.Filename]
	if !read {
		lines = x.flaggedLines(pos.Filename)
		x.files[pos.Filename] = lines
	}
	return lines[pos.Line] == obj.Name()
}

// flaggedLines reads the Go file name and returns the names of its
// types marked //parley:flags, by line. A file that cannot be read or
// parsed has none.
func (x *flagIndex) flaggedLines(name string) map[int]string {
	fset := x.foreign.fset
	f := x.foreign.src.parse(fset, name)
	if f == nil {
		return nil
	}
	out := map[int]string{}
	for _, d := range f.Decls {
		if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.TYPE {
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				if len(flagLines(specDoc(gd, ts))) > 0 {
					out[fset.Position(ts.Name.Pos()).Line] = ts.Name.Name
				}
			}
		}
	}
	return out
}
