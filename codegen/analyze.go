package codegen

import (
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/tools/go/packages"
)

// kind tells a service interface from a client interface.
type kind int

const (
	service kind = iota // //parley:service: Go methods browsers call
	client              // //parley:client: browser functions Go calls
)

// directives maps the text after "//parley:" to the kind it marks.
var directives = map[string]kind{"service": service, "client": client}

// access is what a method requires of its caller, from //parley:auth.
type access struct {
	login bool
	roles []string
}

// model is what Generate learns from a package.
type model struct {
	pkg   *packages.Package
	files []*sourceFile
	// clients are the package's client interfaces, sorted by name.
	clients []*iface
	// mapper holds the declarations of the types the interfaces reach.
	mapper *typeMapper
}

// sourceFile is a source file with annotated interfaces.
type sourceFile struct {
	base   string // "chat.go"
	ifaces []*iface
}

// iface is an annotated interface.
type iface struct {
	kind    kind
	name    string
	doc     string
	pos     token.Pos
	methods []*method
	// access applies to the methods without an //parley:auth of their own.
	access *access
	// refs are the declarations its methods mention.
	refs []*decl
}

// method is a method of an annotated interface.
type method struct {
	goName string
	jsName string
	doc    string
	pos    token.Pos
	ctx    bool // takes a context.Context first
	params []param
	// result is T of a service method returning (T, error); nil when it
	// returns only error.
	result   types.Type
	resultTS string // "void" for none
	// returnsError is whether a client method returns an error.
	returnsError bool
	// access is what a service method requires of its caller.
	access access
}

// param is a parameter, not counting a context.
type param struct {
	goName string // the source name, or argN
	jsName string
	typ    types.Type
	ts     string
}

// analyzer builds the model of a package and collects refusals.
type analyzer struct {
	pkg    *packages.Package
	errs   *errorList
	docs   docIndex
	mapper *typeMapper
}

// analyze returns the model of pkg, or the sorted refusals.
func analyze(pkg *packages.Package) (*model, error) {
	errs := &errorList{fset: pkg.Fset}
	docs := indexDocs(pkg.Syntax)
	module := ""
	if pkg.Module != nil {
		module = pkg.Module.Path
	}
	a := &analyzer{pkg: pkg, errs: errs, docs: docs, mapper: newTypeMapper(pkg.Types, module, docs, errs)}
	a.mapper.flags = newFlagIndex(pkg, errs, a.mapper.foreign)
	m := &model{pkg: pkg, mapper: a.mapper}
	for _, f := range pkg.Syntax {
		sf := &sourceFile{base: filepath.Base(pkg.Fset.Position(f.Package).Filename)}
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok {
				sf.ifaces = append(sf.ifaces, a.genDecl(gd)...)
			}
		}
		if len(sf.ifaces) > 0 {
			m.files = append(m.files, sf)
		}
	}
	m.clients = sortedClients(m.files)
	a.checkTSNames(m.files, m.clients)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// genDecl returns the annotated interfaces of a declaration.
func (a *analyzer) genDecl(d *ast.GenDecl) []*iface {
	if d.Tok != token.TYPE {
		return nil
	}
	if loneTypeSpec(d) == nil {
		a.refuseGroupDirective(d)
	}
	var out []*iface
	for _, spec := range d.Specs {
		ts := spec.(*ast.TypeSpec)
		doc := ts.Doc
		if loneTypeSpec(d) != nil && doc == nil {
			doc = d.Doc
		}
		if k, auth, ok := a.directive(ts.Name.Name, doc); ok {
			if it := a.typeSpec(k, ts, auth); it != nil {
				out = append(out, it)
			}
		}
	}
	return out
}

// refuseGroupDirective refuses a directive on a parenthesized type group,
// which would not say which type it marks.
func (a *analyzer) refuseGroupDirective(d *ast.GenDecl) {
	for _, c := range commentLines(d.Doc) {
		if strings.HasPrefix(c.Text, "//parley:") {
			a.errs.add(c.Pos(), "%s must be on a type, not on a type group", strings.TrimSpace(c.Text))
		}
	}
}

// directive returns the kind a //parley: line of doc marks the type name
// as, if any, and the access its //parley:auth line requires, if any.
func (a *analyzer) directive(name string, doc *ast.CommentGroup) (k kind, auth *access, found bool) {
	var authPos token.Pos
	for _, c := range commentLines(doc) {
		text, ok := strings.CutPrefix(strings.TrimSpace(c.Text), "//parley:")
		if !ok {
			continue
		}
		if word, args, _ := strings.Cut(text, " "); word == "auth" {
			if auth != nil {
				a.errs.add(c.Pos(), "%s: more than one //parley:auth directive", name)
				continue
			}
			auth, authPos = a.auth(c.Pos(), args), c.Pos()
			if auth == nil {
				auth = &access{}
			} else if !auth.login {
				a.errs.add(c.Pos(), "%s: //parley:auth none applies to methods only", name)
			}
			continue
		}
		if f := strings.Fields(text); len(f) > 0 && f[0] == "flags" {
			continue // newFlagIndex checks it
		}
		ck, known := directives[text]
		switch {
		case !known:
			a.errs.add(c.Pos(), "unknown directive //parley:%s: want //parley:service, //parley:client, //parley:auth or //parley:flags", text)
		case found:
			a.errs.add(c.Pos(), "%s: more than one //parley: directive", name)
		default:
			k, found = ck, true
		}
	}
	switch {
	case auth != nil && !found:
		a.errs.add(authPos, "%s: //parley:auth needs //parley:service on the same type", name)
	case auth != nil && k == client:
		a.errs.add(authPos, "%s: //parley:auth applies to services only", name)
	}
	return k, auth, found
}

// roleName is what a role of //parley:auth role=… may be.
var roleName = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// auth parses the arguments of a //parley:auth directive at pos: nothing
// (login required), "role=a,b" (login and one of the roles) or "none"
// (anyone). It returns nil after reporting malformed arguments.
func (a *analyzer) auth(pos token.Pos, args string) *access {
	args = strings.TrimSpace(args)
	const want = "want //parley:auth, //parley:auth role=NAME[,NAME…] or //parley:auth none"
	switch {
	case args == "":
		return &access{login: true}
	case args == "none":
		return &access{}
	}
	list, ok := strings.CutPrefix(args, "role=")
	if !ok || strings.ContainsAny(list, " \t") {
		a.errs.add(pos, "malformed //parley:auth %s: %s", args, want)
		return nil
	}
	out := &access{login: true}
	for _, role := range strings.Split(list, ",") {
		if !roleName.MatchString(role) {
			a.errs.add(pos, "malformed //parley:auth %s: role %q must be letters, digits, _ . : or -", args, role)
			return nil
		}
		if !slices.Contains(out.roles, role) {
			out.roles = append(out.roles, role)
		}
	}
	return out
}

// commentLines returns the comments of doc, which may be nil.
func commentLines(doc *ast.CommentGroup) []*ast.Comment {
	if doc == nil {
		return nil
	}
	return doc.List
}

// typeSpec returns the annotated interface ts, or nil if it is refused.
func (a *analyzer) typeSpec(k kind, ts *ast.TypeSpec, auth *access) *iface {
	name := ts.Name.Name
	it, isIface := ts.Type.(*ast.InterfaceType)
	switch {
	case ts.TypeParams != nil:
		a.errs.add(ts.Pos(), "%s: generic interfaces are not supported", name)
		return nil
	case !isIface:
		a.errs.add(ts.Pos(), "%s: //parley:%s applies to interface types only", name, kindName(k))
		return nil
	}
	out := &iface{kind: k, name: name, doc: a.docs[ts.Name.Pos()], pos: ts.Pos(), access: auth}
	for _, field := range it.Methods.List {
		if len(field.Names) == 0 {
			a.errs.add(field.Pos(), "%s: embedded interface %s is not supported yet; list its methods", name, types.ExprString(field.Type))
			continue
		}
		if m := a.method(out, a.pkg.TypesInfo.Defs[field.Names[0]].(*types.Func)); m != nil {
			a.methodAccess(out, m, field.Doc)
			out.methods = append(out.methods, m)
		}
	}
	a.checkJSNames(out)
	return out
}

// methodAccess sets what the method m of it requires, from the
// //parley:auth line of its doc, if any, or else from the interface's.
func (a *analyzer) methodAccess(it *iface, m *method, doc *ast.CommentGroup) {
	if it.access != nil && it.access.login {
		m.access = *it.access
	}
	var found bool
	for _, c := range commentLines(doc) {
		text, ok := strings.CutPrefix(strings.TrimSpace(c.Text), "//parley:")
		if !ok {
			continue
		}
		word, args, _ := strings.Cut(text, " ")
		label := it.name + "." + m.goName
		switch {
		case word != "auth":
			a.errs.add(c.Pos(), "%s: //parley:%s cannot be on a method; only //parley:auth can", label, text)
		case it.kind == client:
			a.errs.add(c.Pos(), "%s: //parley:auth applies to services only", label)
		case found:
			a.errs.add(c.Pos(), "%s: more than one //parley:auth directive", label)
		default:
			found = true
			if acc := a.auth(c.Pos(), args); acc != nil {
				m.access = *acc
			}
		}
	}
}

// kindName returns the directive word of k.
func kindName(k kind) string {
	if k == client {
		return "client"
	}
	return "service"
}

// method returns the checked method fn of it, or nil if it is refused.
func (a *analyzer) method(it *iface, fn *types.Func) *method {
	label := it.name + "." + fn.Name()
	if !fn.Exported() {
		a.errs.add(fn.Pos(), "%s: unexported methods are not supported", label)
		return nil
	}
	m := &method{goName: fn.Name(), jsName: LowerCamel(fn.Name()), doc: a.docs[fn.Pos()], pos: fn.Pos()}
	sig := fn.Signature()
	vars := tupleVars(sig.Params())
	if it.kind == service && len(vars) > 0 && isContext(vars[0].Type()) {
		m.ctx, vars = true, vars[1:]
	}
	m.params = a.params(it, label, fn.Pos(), vars, sig.Variadic())
	if it.kind == service {
		a.serviceResults(it, label, m, tupleVars(sig.Results()))
	} else {
		a.clientResults(label, m, tupleVars(sig.Results()))
	}
	return m
}

// tupleVars returns the variables of t.
func tupleVars(t *types.Tuple) []*types.Var {
	vars := make([]*types.Var, t.Len())
	for i := range vars {
		vars[i] = t.At(i)
	}
	return vars
}

// params checks and names the parameters of a method, after its context.
func (a *analyzer) params(it *iface, label string, pos token.Pos, vars []*types.Var, variadic bool) []param {
	source := make([]string, len(vars))
	for i, v := range vars {
		source[i] = v.Name()
	}
	goNames, jsNames := paramNames(source)
	out := make([]param, len(vars))
	for i, v := range vars {
		out[i] = param{goName: goNames[i], jsName: jsNames[i], typ: v.Type()}
		switch {
		case variadic && i == len(vars)-1:
			a.errs.add(pos, "%s: variadic parameters are not supported", label)
		case isContext(v.Type()) && it.kind == service:
			a.errs.add(pos, "%s: context.Context must be the first parameter", label)
		case isContext(v.Type()):
			a.errs.add(pos, "%s: client methods cannot take a context.Context yet", label)
		default:
			u := nested
			if it.kind == service {
				u = paramUse
			}
			out[i].ts = a.mapType(it, v.Type(), u, pos, "%s: parameter %s has type %s: %v", label, goNames[i])
		}
	}
	return out
}

// mapType returns the TypeScript type of t, used at pos by it, reporting
// a refusal with format, whose last two verbs get the type and the reason.
func (a *analyzer) mapType(it *iface, t types.Type, u use, pos token.Pos, format string, args ...any) string {
	ts, err := a.mapper.tsAt(t, pos, &it.refs, u)
	if err != nil {
		a.errs.add(pos, format, append(args, a.mapper.typeString(t), err)...)
	}
	return ts
}

// serviceResults checks that a service method returns error or (T, error).
func (a *analyzer) serviceResults(it *iface, label string, m *method, results []*types.Var) {
	switch {
	case len(results) == 1 && isError(results[0].Type()):
		m.resultTS = "void"
	case len(results) == 2 && isError(results[1].Type()):
		m.result = results[0].Type()
		m.resultTS = a.mapType(it, m.result, resultUse, m.pos, "%s: result has type %s: %v", label)
	default:
		a.errs.add(m.pos, "%s: results must be error or (T, error)", label)
	}
}

// clientResults checks that a client method returns nothing or an error.
func (a *analyzer) clientResults(label string, m *method, results []*types.Var) {
	m.resultTS = "void"
	switch {
	case len(results) == 0:
	case len(results) == 1 && isError(results[0].Type()):
		m.returnsError = true
	default:
		a.errs.add(m.pos, "%s: client methods must return nothing or error", label)
	}
}

// isContext reports whether t is context.Context.
func isContext(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && isNamed(n, "context", "Context")
}

// isError reports whether t is the built-in error.
func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

// checkJSNames refuses methods of it whose JS names are the same.
func (a *analyzer) checkJSNames(it *iface) {
	seen := map[string]*method{}
	for _, m := range it.methods {
		if first := seen[m.jsName]; first != nil {
			a.errs.add(m.pos, "%s.%s: JS name %q is also the name of %s.%s", it.name, m.goName, m.jsName, it.name, first.goName)
			continue
		}
		seen[m.jsName] = m
	}
}

// checkTSNames refuses declared types whose TypeScript names are taken by
// the types imported from engine.d.ts, by a client interface or, for
// enums, which are values too, by a service.
func (a *analyzer) checkTSNames(files []*sourceFile, clients []*iface) {
	for _, name := range runtimeTypes {
		if d := a.mapper.byName[name]; d != nil {
			a.errs.add(d.obj.Pos(), "type %s would clash with the %s of the .d.ts files", qualifiedName(d.obj), name)
		}
	}
	for _, c := range clients {
		if d := a.mapper.byName[c.name]; d != nil {
			a.errs.add(c.pos, "%s: client interface and type %s would have the same TypeScript name", c.name, qualifiedName(d.obj))
		}
	}
	for _, f := range files {
		for _, it := range f.ifaces {
			if d := a.mapper.byName[it.name]; d != nil && d.kind == declEnum && it.kind == service {
				a.errs.add(it.pos, "%s: service and enum %s would both be the JavaScript export %s", it.name, qualifiedName(d.obj), it.name)
			}
		}
	}
}

// sortedClients returns the client interfaces of files, sorted by name.
func sortedClients(files []*sourceFile) []*iface {
	var out []*iface
	for _, f := range files {
		for _, it := range f.ifaces {
			if it.kind == client {
				out = append(out, it)
			}
		}
	}
	slices.SortFunc(out, func(x, y *iface) int { return strings.Compare(x.name, y.name) })
	return out
}
