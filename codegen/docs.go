package codegen

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
)

// docIndex maps the position of a declared name (a type, a field or an
// interface method) to its doc comment, without directive lines.
type docIndex map[token.Pos]string

// indexDocs returns the doc comments of the declarations in files.
func indexDocs(files []*ast.File) docIndex {
	d := docIndex{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GenDecl:
				if spec := loneTypeSpec(n); spec != nil && spec.Doc == nil {
					d.add(spec.Name, n.Doc)
				}
			case *ast.TypeSpec:
				d.add(n.Name, n.Doc)
			case *ast.Field:
				doc := n.Doc
				if doc == nil {
					doc = n.Comment
				}
				for _, name := range n.Names {
					d.add(name, doc)
				}
			}
			return true
		})
	}
	return d
}

// add records the text of doc, if any, as the doc of name.
func (d docIndex) add(name *ast.Ident, doc *ast.CommentGroup) {
	if text := strings.TrimSpace(doc.Text()); text != "" {
		d[name.Pos()] = text
	}
}

// sourceFiles parses the Go files of other packages of the module, which
// were loaded from export data without syntax, once each, for what export
// data lacks: doc comments and directives. A file that cannot be parsed
// is kept as nil.
type sourceFiles map[string]*ast.File

// parse returns the syntax of the file name and the file set its
// positions are in, or nil.
func (sf sourceFiles) parse(fset *token.FileSet, name string) *ast.File {
	if f, ok := sf[name]; ok {
		return f
	}
	f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		f = nil
	}
	sf[name] = f
	return f
}

// foreignDocs holds the doc comments of declarations in other packages of
// the module, which were loaded from export data, without syntax: it reads
// them from their source files, once per file. Export data keeps the line
// of a declaration but not always its column, so docs are found by line.
type foreignDocs struct {
	fset *token.FileSet // the package's, which src's syntax is added to
	src  sourceFiles
	// files maps a file name to the doc comments of its declarations by
	// line.
	files map[string]map[int]string
}

// doc returns the doc comment of the declaration at pos, or "".
func (f *foreignDocs) doc(pos token.Pos) string {
	p := f.fset.Position(pos)
	if p.Filename == "" {
		return ""
	}
	docs, ok := f.files[p.Filename]
	if !ok {
		docs = f.readDocs(p.Filename)
		f.files[p.Filename] = docs
	}
	return docs[p.Line]
}

// readDocs returns the doc comments of the declarations of the Go file
// filename by line; nil if it cannot be parsed.
func (f *foreignDocs) readDocs(filename string) map[int]string {
	file := f.src.parse(f.fset, filename)
	if file == nil {
		return nil
	}
	out := map[int]string{}
	for pos, doc := range indexDocs([]*ast.File{file}) {
		out[f.fset.Position(pos).Line] = doc
	}
	return out
}

// loneTypeSpec returns the spec of a type declaration without parentheses,
// whose doc comment go/ast attaches to the declaration, or nil.
func loneTypeSpec(d *ast.GenDecl) *ast.TypeSpec {
	if d.Tok != token.TYPE || d.Lparen.IsValid() || len(d.Specs) != 1 {
		return nil
	}
	return d.Specs[0].(*ast.TypeSpec)
}

// goComment renders text as // comment lines, for jen.Comment.
func goComment(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight("// "+l, " ")
	}
	return strings.Join(lines, "\n")
}

// jsDoc renders text and tags as a /** */ comment whose lines start with
// indent. It returns "" when both are empty.
func jsDoc(indent, text string, tags ...string) string {
	var lines []string
	if text != "" {
		lines = strings.Split(text, "\n")
	}
	lines = append(lines, tags...)
	switch {
	case len(lines) == 0:
		return ""
	case len(lines) == 1 && len(tags) == 0:
		return indent + "/** " + escapeDoc(lines[0]) + " */\n"
	}
	var b strings.Builder
	b.WriteString(indent + "/**\n")
	for _, l := range lines {
		b.WriteString(strings.TrimRight(indent+" * "+escapeDoc(l), " ") + "\n")
	}
	b.WriteString(indent + " */\n")
	return b.String()
}

// escapeDoc keeps a line of a doc from closing its /** */ comment.
func escapeDoc(line string) string {
	return strings.ReplaceAll(line, "*/", "*\\/")
}

// joinDoc joins a generated sentence and a source doc comment into one
// doc, as two paragraphs.
func joinDoc(sentence, doc string) string {
	if doc == "" {
		return sentence
	}
	return sentence + "\n\n" + doc
}
