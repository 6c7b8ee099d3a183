package codegen

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"go/constant"
	"go/token"
	"go/types"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// declKind tells what a declaration of the .d.ts files is.
type declKind int

const (
	declStruct declKind = iota // a named struct: an interface
	declEnum                   // a named string or integer type with constants: a union type and a frozen object
	declOpaque                 // a named type with its own JSON encoding: unknown
)

// decl is a named Go type declared in the .d.ts files under its Go name.
type decl struct {
	kind declKind
	obj  *types.TypeName
	doc  string
	// fields are the properties of a struct.
	fields []tsField
	// json are the fields of a struct's JSON object, for the validators.
	json []jsonField
	// values are the constants of an enum, in declaration order.
	values []enumValue
	// refs are the declarations the fields mention.
	refs []*decl
	// empty is whether a struct has fields but none in its JSON object.
	empty bool
	// flags is whether an enum is a set of bit flags (//parley:flags):
	// any combination of its values is valid, so it is a number.
	flags bool
}

// name returns the TypeScript name, the Go name.
func (d *decl) name() string { return d.obj.Name() }

// enumValue is a constant of an enum.
type enumValue struct {
	obj *types.Const
	key string // the property of the frozen JS object
	lit string // the JS literal of the value
}

// tsField is a property of a TypeScript object type.
type tsField struct {
	name     string
	typ      string
	doc      string
	optional bool
}

// typeMapper maps Go types to the TypeScript types of their JSON encoding,
// declaring named structs and enums as it meets them and reporting what it
// refuses.
type typeMapper struct {
	pkg *types.Package
	// module is the path of the package's module; "" if unknown.
	module string
	docs   docIndex
	// foreign holds the docs of the module's other packages.
	foreign *foreignDocs
	errs    *errorList
	byObj   map[*types.TypeName]*decl
	byName  map[string]*decl
	// mapping holds the named non-struct types being mapped, to refuse
	// recursion that does not pass through a named struct.
	mapping map[*types.TypeName]bool
	// flags tells the types marked //parley:flags; nil for none.
	flags *flagIndex
}

func newTypeMapper(pkg *types.Package, module string, docs docIndex, errs *errorList) *typeMapper {
	return &typeMapper{
		pkg:     pkg,
		module:  module,
		docs:    docs,
		foreign: &foreignDocs{fset: errs.fset, src: sourceFiles{}, files: map[string]map[int]string{}},
		errs:    errs,
		byObj:   map[*types.TypeName]*decl{},
		byName:  map[string]*decl{},
		mapping: map[*types.TypeName]bool{},
	}
}

// doc returns the doc comment of obj, declared in the package or in
// another package of the module.
func (m *typeMapper) doc(obj types.Object) string {
	switch {
	case obj.Pkg() == m.pkg || obj.Pkg() == nil:
		return m.docs[obj.Pos()]
	case m.own(obj.Pkg().Path()):
		return m.foreign.doc(obj.Pos())
	}
	return ""
}

// typeString writes t as in the source of the package being generated,
// with other packages by name.
func (m *typeMapper) typeString(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string {
		if p == m.pkg {
			return ""
		}
		return p.Name()
	})
}

// use tells where a type appears, for the types allowed in one place only.
type use int

const (
	nested    use = iota // inside another type, or a client parameter
	paramUse             // a service method's parameter
	resultUse            // a service method's result
)

// ts returns the TypeScript type of t, adding the declarations it
// mentions to refs. A type that cannot be mapped gives an error saying
// why, for the caller to report with its context; pos is where t is used.
func (m *typeMapper) ts(t types.Type, pos token.Pos, refs *[]*decl) (string, error) {
	return m.tsAt(t, pos, refs, nested)
}

// tsAt is ts for a type used as u.
func (m *typeMapper) tsAt(t types.Type, pos token.Pos, refs *[]*decl, u use) (string, error) {
	t = types.Unalias(t)
	if p, ok := t.(*types.Pointer); ok && u != nested {
		if s, done, err := m.file(types.Unalias(p.Elem()), u, refs); done {
			return nullable(s), err
		}
	}
	if s, done, err := m.file(t, u, refs); done {
		return s, err
	}
	if s, done, err := m.special(t, refs); done {
		return s, err
	}
	n, named := t.(*types.Named)
	if named {
		if _, isStruct := n.Underlying().(*types.Struct); !isStruct {
			if m.mapping[n.Obj()] {
				return "", fmt.Errorf("the recursive type %s cannot be written in TypeScript: recursion must pass through a named struct", m.typeString(n))
			}
			m.mapping[n.Obj()] = true
			defer delete(m.mapping, n.Obj())
		}
		if d := m.enum(n, pos); d != nil {
			*refs = append(*refs, d)
			return d.name(), nil
		}
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		return basicTS(u)
	case *types.Pointer:
		s, err := m.ts(u.Elem(), pos, refs)
		return nullable(s), err
	case *types.Slice:
		return m.sliceTS(u, pos, refs)
	case *types.Array:
		elem, err := m.ts(u.Elem(), pos, refs)
		return fmt.Sprintf("%s[] /* length %d */", group(elem), u.Len()), err
	case *types.Map:
		return m.mapTS(u, pos, refs)
	case *types.Struct:
		if named {
			d := m.declare(n, pos)
			if d.empty {
				return "", fmt.Errorf("struct %s has no exported fields, so it would travel as {}", m.typeString(n))
			}
			*refs = append(*refs, d)
			return d.name(), nil
		}
		return m.inlineTS(u, refs), nil
	case *types.Chan:
		return "", errors.New("channels are not supported")
	case *types.Signature:
		return "", errors.New("funcs are not supported")
	case *types.Interface:
		if u.Empty() {
			return "unknown", nil
		}
		return "", errors.New("interfaces with methods are not supported: JSON cannot say which type to decode; use any")
	}
	return "", errors.New("this type is not supported")
}

// file handles rpc.Upload and rpc.Download, which only a service
// method's parameter and result may be, directly or through a pointer.
// done is false for other types.
func (m *typeMapper) file(t types.Type, u use, refs *[]*decl) (ts string, done bool, err error) {
	n, ok := t.(*types.Named)
	switch {
	case !ok:
		return "", false, nil
	case isNamed(n, rpcPath, "Upload"):
		if u != paramUse {
			return "", true, errors.New("rpc.Upload may only be a service method's parameter, or a pointer to one")
		}
		return "Blob", true, nil
	case isNamed(n, rpcPath, "Download"):
		if u != resultUse {
			return "", true, errors.New("rpc.Download may only be a service method's result, or a pointer to one")
		}
		d := m.byObj[n.Obj()]
		if d == nil {
			d = downloadDecl(n.Obj())
			m.register(d, n.Obj().Pos())
		}
		*refs = append(*refs, d)
		return "Download", true, nil
	}
	return "", false, nil
}

// downloadDecl declares what the page receives for an rpc.Download.
func downloadDecl(obj *types.TypeName) *decl {
	return &decl{kind: declStruct, obj: obj,
		doc: "Download is a file a method returned: the page fetches it once, at url.",
		fields: []tsField{
			{name: "url", typ: "string", doc: "url serves the file once, to this browser."},
			{name: "name", typ: "string", doc: "name is the file name to save it under."},
			{name: "contentType", typ: "string", doc: "contentType is the file's MIME type."},
			{name: "size", typ: "number", doc: "size is the file's length in bytes, or -1 when unknown."},
		}}
}

// special handles the types whose JSON encoding is not their structure:
// time.Time, json.RawMessage, generic types, and types with their own JSON
// or text encoding. done is false for every other type.
func (m *typeMapper) special(t types.Type, refs *[]*decl) (ts string, done bool, err error) {
	n, named := t.(*types.Named)
	if _, isStruct := t.(*types.Struct); !named && !isStruct {
		return "", false, nil
	}
	switch {
	case named && isNamed(n, "time", "Time"):
		return "string", true, nil
	case named && isNamed(n, "encoding/json", "RawMessage"):
		return "unknown", true, nil
	case named && isNamed(n, "encoding/json", "Number"):
		return "number", true, nil
	case named && n.TypeArgs().Len() > 0:
		return "", true, errors.New("generic types are not supported")
	case hasMethod(t, "MarshalJSON") || hasMethod(t, "UnmarshalJSON"):
		if !named {
			return "unknown", true, nil
		}
		d := m.byObj[n.Obj()]
		if d == nil {
			d = &decl{kind: declOpaque, obj: n.Obj(), doc: joinDoc(m.doc(n.Obj()),
				n.Obj().Name()+" has its own JSON encoding (MarshalJSON or UnmarshalJSON), which its Go type does not describe.")}
			m.register(d, n.Obj().Pos())
		}
		*refs = append(*refs, d)
		return d.name(), true, nil
	case hasMethod(t, "MarshalText"):
		return "string", true, nil
	}
	return "", false, nil
}

// register records d under its object and TypeScript name, refusing a
// name taken by another type. pos is where the type is used.
func (m *typeMapper) register(d *decl, pos token.Pos) {
	m.byObj[d.obj] = d
	if other := m.byName[d.name()]; other != nil {
		m.errs.add(pos, "types %s and %s would both be the TypeScript type %s",
			qualifiedName(other.obj), qualifiedName(d.obj), d.name())
		return
	}
	m.byName[d.name()] = d
}

// hasMethod reports whether *t has the exported method name.
func hasMethod(t types.Type, name string) bool {
	return types.NewMethodSet(types.NewPointer(t)).Lookup(nil, name) != nil
}

// isNamed reports whether n is the type path.name.
func isNamed(n *types.Named, path, name string) bool {
	obj := n.Obj()
	return obj.Pkg() != nil && obj.Pkg().Path() == path && obj.Name() == name
}

// notCompiling is the refusal of an invalid type, which Generate replaces
// with the type checker's errors on the same line.
const notCompiling = "the type does not compile"

// basicTS maps the basic types that encoding/json encodes.
func basicTS(b *types.Basic) (string, error) {
	info := b.Info()
	switch {
	case info&types.IsBoolean != 0:
		return "boolean", nil
	case info&types.IsString != 0:
		return "string", nil
	case info&(types.IsInteger|types.IsFloat) != 0:
		return "number", nil
	case info&types.IsComplex != 0:
		return "", errors.New("complex numbers are not supported")
	case b.Kind() == types.Invalid:
		return "", errors.New(notCompiling)
	case b.Kind() == types.UnsafePointer:
		return "", errors.New("unsafe.Pointer is not supported")
	}
	return "", errors.New("this type is not supported")
}

// sliceTS maps a slice: an array, or a base64 string for bytes. A nil
// slice travels as [] (or "" for bytes), never null.
func (m *typeMapper) sliceTS(s *types.Slice, pos token.Pos, refs *[]*decl) (string, error) {
	if isBytes(s) {
		return "string", nil
	}
	elem, err := m.ts(s.Elem(), pos, refs)
	return group(elem) + "[]", err
}

// isBytes reports whether s is a slice that encoding/json encodes in
// base64: one of bytes that do not have their own encoding.
func isBytes(s *types.Slice) bool {
	b, ok := s.Elem().Underlying().(*types.Basic)
	return ok && b.Kind() == types.Uint8 &&
		!hasMethod(s.Elem(), "MarshalJSON") && !hasMethod(s.Elem(), "MarshalText")
}

// mapTS maps a map to a Record with string keys, as encoding/json writes
// the keys: strings, integers and text-marshaled values. A map keyed by a
// string enum is a Partial Record of the enum. A nil map travels as {},
// never null.
func (m *typeMapper) mapTS(mt *types.Map, pos token.Pos, refs *[]*decl) (string, error) {
	key := "string"
	b, basic := mt.Key().Underlying().(*types.Basic)
	switch {
	case basic && b.Info()&types.IsString != 0:
		if n, ok := types.Unalias(mt.Key()).(*types.Named); ok {
			if d := m.enum(n, pos); d != nil {
				*refs = append(*refs, d)
				key = d.name()
			}
		}
	case hasMethod(mt.Key(), "MarshalText"):
	case basic && b.Info()&types.IsInteger != 0:
		if n, ok := types.Unalias(mt.Key()).(*types.Named); ok {
			if d := m.enum(n, pos); d != nil {
				*refs = append(*refs, d)
			}
		}
	default:
		return "", errors.New("map keys must be strings, integers or types with MarshalText")
	}
	elem, err := m.ts(mt.Elem(), pos, refs)
	if key != "string" {
		return "Partial<Record<" + key + ", " + elem + ">>", err
	}
	return "Record<string, " + elem + ">", err
}

// nullable returns s | null.
func nullable(s string) string {
	if strings.HasSuffix(s, " | null") {
		return s
	}
	return s + " | null"
}

// group parenthesizes a union type, or a type with a comment, to be the
// element of an array.
func group(s string) string {
	if strings.Contains(s, " | ") || strings.Contains(s, " /* ") {
		return "(" + s + ")"
	}
	return s
}

// inlineTS maps an anonymous struct to an object type literal.
func (m *typeMapper) inlineTS(st *types.Struct, refs *[]*decl) string {
	fields, _ := m.fields(st, "", refs)
	if len(fields) == 0 {
		return "{}"
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.property()
	}
	return "{ " + strings.Join(parts, "; ") + " }"
}

// property returns the field as a TypeScript property, without a doc.
func (f tsField) property() string {
	name := f.name
	if !isJSIdent(name) {
		name = strconv.Quote(name)
	}
	if f.optional {
		name += "?"
	}
	return name + ": " + f.typ
}

// declare returns the declaration of the named struct n, making it on
// first use. pos is where n is used, to report a name clash.
func (m *typeMapper) declare(n *types.Named, pos token.Pos) *decl {
	obj := n.Obj()
	if d := m.byObj[obj]; d != nil {
		return d
	}
	d := &decl{kind: declStruct, obj: obj, doc: m.doc(obj)}
	m.register(d, pos)
	// Recursion through a named struct is fine: start a new stack.
	outer := m.mapping
	m.mapping = map[*types.TypeName]bool{}
	defer func() { m.mapping = outer }()
	st := n.Underlying().(*types.Struct)
	d.fields, d.json = m.fields(st, obj.Name(), &d.refs)
	d.empty = len(d.fields) == 0 && st.NumFields() > 0
	return d
}

// qualifiedName returns path.Name for obj.
func qualifiedName(obj *types.TypeName) string {
	return obj.Pkg().Path() + "." + obj.Name()
}

// enum returns the declaration of n if it is an enum: a named string or
// integer type, declared in the module of the generated package, with
// exported constants of its type in its package. Types of other modules
// and of the standard library are not enums: their constants may be units
// or flags (time.Duration, os.FileMode), not the only values. A type with
// MarshalText never gets here. An integer type marked //parley:flags is
// declared with its constants too, as a set of bit flags.
func (m *typeMapper) enum(n *types.Named, pos token.Pos) *decl {
	obj := n.Obj()
	if d := m.byObj[obj]; d != nil {
		if d.kind == declEnum {
			return d
		}
		return nil
	}
	b, ok := n.Underlying().(*types.Basic)
	if !ok || b.Info()&(types.IsString|types.IsInteger) == 0 || obj.Pkg() == nil || !m.own(obj.Pkg().Path()) {
		return nil
	}
	var consts []*types.Const
	scope := obj.Pkg().Scope()
	for _, name := range scope.Names() {
		if c, ok := scope.Lookup(name).(*types.Const); ok && c.Exported() && types.Identical(c.Type(), n) {
			consts = append(consts, c)
		}
	}
	if len(consts) == 0 {
		return nil
	}
	slices.SortStableFunc(consts, func(a, b *types.Const) int { return cmp.Compare(a.Pos(), b.Pos()) })
	d := &decl{kind: declEnum, obj: obj, doc: m.doc(obj),
		flags: b.Info()&types.IsInteger != 0 && m.flags != nil && m.flags.isFlags(obj)}
	keys := enumKeys(obj.Name(), consts)
	for i, c := range consts {
		d.values = append(d.values, enumValue{obj: c, key: keys[i], lit: constLiteral(c.Val())})
	}
	m.register(d, pos)
	return d
}

// own reports whether the package path is in the generated package's
// module, or is that package when the module is unknown.
func (m *typeMapper) own(path string) bool {
	if m.module == "" {
		return path == m.pkg.Path()
	}
	return path == m.module || strings.HasPrefix(path, m.module+"/")
}

// enumKeys returns the properties of the frozen object of an enum: the
// constants' names without the type's name when all of them start with
// it (ColorRed → Red), else the names as they are.
func enumKeys(typeName string, consts []*types.Const) []string {
	keys := make([]string, len(consts))
	for i, c := range consts {
		rest, ok := strings.CutPrefix(c.Name(), typeName)
		if !ok || !isJSIdent(rest) {
			for i, c := range consts {
				keys[i] = c.Name()
			}
			return keys
		}
		keys[i] = rest
	}
	return keys
}

// constLiteral returns the JS literal of a string or integer constant.
func constLiteral(v constant.Value) string {
	if v.Kind() == constant.String {
		lit, _ := json.Marshal(constant.StringVal(v))
		return string(lit)
	}
	return v.ExactString()
}

// jsonField is a field of a struct's JSON object.
type jsonField struct {
	v     *types.Var
	label string // "field Owner.Go" for errors
	name  string
	// path are the fields from the struct to v: the embedded ones, then v.
	path     []*types.Var
	tagged   bool
	quoted   bool // the json ",string" option applies
	optional bool
}

// depth returns the depth of embedding of f.
func (f jsonField) depth() int { return len(f.path) - 1 }

// fields returns the properties of the JSON object of st, following the
// rules of encoding/json, and the fields they come from. owner names st in
// errors; "" for an anonymous struct.
func (m *typeMapper) fields(st *types.Struct, owner string, refs *[]*decl) ([]tsField, []jsonField) {
	var out []tsField
	dominant := m.dominant(m.collect(st, owner))
	for _, f := range dominant {
		typ, err := m.ts(f.v.Type(), f.v.Pos(), refs)
		if err != nil {
			m.errs.add(f.v.Pos(), "%s has type %s: %v", f.label, m.typeString(f.v.Type()), err)
		}
		if f.quoted {
			typ = "string"
			if _, isPtr := types.Unalias(f.v.Type()).(*types.Pointer); isPtr {
				typ = "string | null"
			}
		}
		out = append(out, tsField{name: f.name, typ: typ, doc: m.doc(f.v), optional: f.optional})
	}
	return out, dominant
}

// embedding is a struct whose fields join a JSON object, at the end of a
// path of embedded fields.
type embedding struct {
	st       *types.Struct
	owner    string
	path     []*types.Var
	optional bool // reached through an embedded pointer, which may be nil
}

// collect lists the fields of the JSON object of st as encoding/json does:
// breadth first through embedded structs, each struct type expanded once,
// at its shallowest depth, in the order of their field indexes.
func (m *typeMapper) collect(st *types.Struct, owner string) []jsonField {
	var out []jsonField
	visited := map[*types.Struct]bool{}
	next := []embedding{{st: st, owner: owner}}
	for len(next) > 0 {
		current := next
		next = nil
		expanded := map[*types.Struct]bool{}
		for _, e := range current {
			if visited[e.st] && !expanded[e.st] {
				continue
			}
			fields, embedded := m.level(e)
			out = append(out, fields...)
			// A struct embedded twice at one depth gives its fields twice,
			// so that they clash, as in encoding/json; it is expanded once.
			if !expanded[e.st] {
				next = append(next, embedded...)
			}
			visited[e.st], expanded[e.st] = true, true
		}
	}
	slices.SortStableFunc(out, func(a, b jsonField) int { return comparePaths(a.path, b.path) })
	return out
}

// comparePaths orders fields as encoding/json does: by their index
// sequence, which is their order in the source with embedded fields in
// place.
func comparePaths(a, b []*types.Var) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return cmp.Compare(a[i].Pos(), b[i].Pos())
		}
	}
	return cmp.Compare(len(a), len(b))
}

// level returns the fields of one struct of an embedding and the embedded
// structs to expand at the next depth.
func (m *typeMapper) level(e embedding) (fields []jsonField, embedded []embedding) {
	for i := range e.st.NumFields() {
		v := e.st.Field(i)
		tag := reflect.StructTag(e.st.Tag(i)).Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		label := "field " + strings.TrimPrefix(e.owner+"."+v.Name(), ".")
		path := append(slices.Clip(e.path), v)
		if v.Embedded() && name == "" {
			if sub, ok := m.embeddedStruct(v, label); ok {
				if sub.st != nil {
					sub.path, sub.optional = path, sub.optional || e.optional
					embedded = append(embedded, sub)
				}
				continue
			}
		}
		if !v.Exported() {
			continue
		}
		fields = append(fields, jsonField{
			v: v, label: label, name: cmp.Or(name, v.Name()), path: path, tagged: name != "",
			quoted:   hasOption(opts, "string") && quotable(v.Type()),
			optional: e.optional || hasOption(opts, "omitempty") || hasOption(opts, "omitzero"),
		})
	}
	return fields, embedded
}

// embeddedStruct returns the struct an untagged embedded field promotes
// the fields of; ok is false when it is an ordinary field named after its
// type. An embedded pointer to an unexported struct is refused, since
// encoding/json cannot allocate it when decoding; its st is then nil.
func (m *typeMapper) embeddedStruct(v *types.Var, label string) (e embedding, ok bool) {
	t := types.Unalias(v.Type())
	p, isPtr := t.(*types.Pointer)
	if isPtr {
		t = types.Unalias(p.Elem())
	}
	st, isStruct := t.Underlying().(*types.Struct)
	if !isStruct {
		return embedding{}, false
	}
	if isPtr && !v.Exported() {
		m.errs.add(v.Pos(), "%s: an embedded pointer to an unexported struct is not supported: encoding/json cannot decode into it", label)
		return embedding{}, true
	}
	owner := ""
	if n, isNamed := t.(*types.Named); isNamed {
		owner = n.Obj().Name()
	}
	return embedding{st: st, owner: owner, optional: isPtr}, true
}

// quotable reports whether the json ",string" option applies to a field
// of type t: a boolean, number or string, or a pointer to one.
func quotable(t types.Type) bool {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Info()&(types.IsBoolean|types.IsNumeric|types.IsString) != 0 && b.Info()&types.IsComplex == 0
}

// hasOption reports whether the comma-separated tag options hold opt.
func hasOption(opts, opt string) bool {
	return slices.Contains(strings.Split(opts, ","), opt)
}

// dominant keeps, for each JSON name, the field encoding/json encodes:
// the shallowest, or the one tagged among the shallowest. When that leaves
// several, json drops them all, which is refused here.
func (m *typeMapper) dominant(fields []jsonField) []jsonField {
	var out []jsonField
	for i, f := range fields {
		winners := m.winners(fields, f.name)
		if len(winners) > 1 && winners[0] == i {
			second := fields[winners[1]]
			m.errs.add(second.v.Pos(), "%s: json name %q is ambiguous with %s", second.label, f.name, f.label)
		}
		if len(winners) == 1 && winners[0] == i {
			out = append(out, f)
		}
	}
	return out
}

// winners returns the indexes of the fields named name that encoding/json
// would consider dominant.
func (m *typeMapper) winners(fields []jsonField, name string) []int {
	var best []int
	for i, f := range fields {
		if f.name != name {
			continue
		}
		if len(best) == 0 || f.depth() < fields[best[0]].depth() {
			best = []int{i}
		} else if f.depth() == fields[best[0]].depth() {
			best = append(best, i)
		}
	}
	var tagged []int
	for _, i := range best {
		if fields[i].tagged {
			tagged = append(tagged, i)
		}
	}
	if len(tagged) == 1 {
		return tagged
	}
	return best
}

// reachable returns the declarations of roots and those they reach,
// sorted by name.
func reachable(roots []*decl) []*decl {
	seen := map[*decl]bool{}
	var walk func([]*decl)
	walk = func(ds []*decl) {
		for _, d := range ds {
			if !seen[d] {
				seen[d] = true
				walk(d.refs)
			}
		}
	}
	walk(roots)
	out := make([]*decl, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *decl) int {
		return cmp.Or(cmp.Compare(a.name(), b.name()), cmp.Compare(qualifiedName(a.obj), qualifiedName(b.obj)))
	})
	return out
}
