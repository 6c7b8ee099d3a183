package codegen

import (
	"cmp"
	"errors"
	"go/token"
	"go/types"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// structDecl is a named Go struct type, declared in the .d.ts files as a
// TypeScript interface of the same name.
type structDecl struct {
	obj    *types.TypeName
	doc    string
	fields []tsField
	// refs are the named structs the fields mention.
	refs []*structDecl
}

// name returns the TypeScript name, the Go name.
func (d *structDecl) name() string { return d.obj.Name() }

// tsField is a property of a TypeScript object type.
type tsField struct {
	name     string
	typ      string
	doc      string
	optional bool
}

// typeMapper maps Go types to the TypeScript types of their JSON encoding,
// declaring named structs as it meets them and reporting what it refuses.
type typeMapper struct {
	pkg    *types.Package
	docs   docIndex
	errs   *errorList
	byObj  map[*types.TypeName]*structDecl
	byName map[string]*structDecl
}

func newTypeMapper(pkg *types.Package, docs docIndex, errs *errorList) *typeMapper {
	return &typeMapper{
		pkg:    pkg,
		docs:   docs,
		errs:   errs,
		byObj:  map[*types.TypeName]*structDecl{},
		byName: map[string]*structDecl{},
	}
}

// typeString writes t as in the source of the package being generated.
func (m *typeMapper) typeString(t types.Type) string {
	return types.TypeString(t, types.RelativeTo(m.pkg))
}

// ts returns the TypeScript type of t, adding the named structs it
// mentions to refs. A type that cannot be mapped gives an error saying
// why, for the caller to report with its context; pos is where t is used.
func (m *typeMapper) ts(t types.Type, pos token.Pos, refs *[]*structDecl) (string, error) {
	t = types.Unalias(t)
	if s, done, err := m.special(t); done {
		return s, err
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		return basicTS(u)
	case *types.Pointer:
		s, err := m.ts(u.Elem(), pos, refs)
		return nullable(s), err
	case *types.Slice:
		return m.sliceTS(u, pos, refs)
	case *types.Map:
		return m.mapTS(u, pos, refs)
	case *types.Struct:
		if n, ok := t.(*types.Named); ok {
			d := m.declare(n, pos)
			*refs = append(*refs, d)
			return d.name(), nil
		}
		return m.inlineTS(u, refs), nil
	case *types.Array:
		return "", errors.New("arrays are not supported yet; use a slice")
	case *types.Chan:
		return "", errors.New("channels are not supported")
	case *types.Signature:
		return "", errors.New("funcs are not supported")
	case *types.Interface:
		return "", errors.New("interfaces (any included) are not supported yet")
	}
	return "", errors.New("this type is not supported")
}

// special handles the types whose JSON encoding is not their structure:
// time.Time, generic types, and types with their own JSON or text
// encoding. done is false for every other type.
func (m *typeMapper) special(t types.Type) (ts string, done bool, err error) {
	n, named := t.(*types.Named)
	if _, isStruct := t.(*types.Struct); !named && !isStruct {
		return "", false, nil
	}
	switch {
	case named && isNamed(n, "time", "Time"):
		return "string", true, nil
	case named && n.TypeArgs().Len() > 0:
		return "", true, errors.New("generic types are not supported yet")
	case hasMethod(t, "MarshalJSON") || hasMethod(t, "UnmarshalJSON"):
		return "", true, errors.New("types with their own JSON encoding (MarshalJSON, UnmarshalJSON) are not supported yet")
	case hasMethod(t, "MarshalText"):
		return "string", true, nil
	}
	return "", false, nil
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
		return "", errors.New("the type does not compile")
	case b.Kind() == types.UnsafePointer:
		return "", errors.New("unsafe.Pointer is not supported")
	}
	return "", errors.New("this type is not supported")
}

// sliceTS maps a slice: an array, or a base64 string for bytes.
func (m *typeMapper) sliceTS(s *types.Slice, pos token.Pos, refs *[]*structDecl) (string, error) {
	if b, ok := s.Elem().Underlying().(*types.Basic); ok && b.Kind() == types.Uint8 {
		return "string | null", nil
	}
	elem, err := m.ts(s.Elem(), pos, refs)
	return group(elem) + "[] | null", err
}

// mapTS maps a map with string keys to a Record.
func (m *typeMapper) mapTS(mt *types.Map, pos token.Pos, refs *[]*structDecl) (string, error) {
	if b, ok := mt.Key().Underlying().(*types.Basic); !ok || b.Info()&types.IsString == 0 {
		return "", errors.New("maps with non-string keys are not supported")
	}
	elem, err := m.ts(mt.Elem(), pos, refs)
	return "Record<string, " + elem + "> | null", err
}

// nullable returns s | null.
func nullable(s string) string {
	if strings.HasSuffix(s, " | null") {
		return s
	}
	return s + " | null"
}

// group parenthesizes a union type.
func group(s string) string {
	if strings.Contains(s, " | ") {
		return "(" + s + ")"
	}
	return s
}

// inlineTS maps an anonymous struct to an object type literal.
func (m *typeMapper) inlineTS(st *types.Struct, refs *[]*structDecl) string {
	fields := m.fields(st, "", refs)
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
func (m *typeMapper) declare(n *types.Named, pos token.Pos) *structDecl {
	obj := n.Obj()
	if d := m.byObj[obj]; d != nil {
		return d
	}
	d := &structDecl{obj: obj, doc: m.docs[obj.Pos()]}
	m.byObj[obj] = d
	if other := m.byName[obj.Name()]; other != nil {
		m.errs.add(pos, "struct types %s and %s would both be the TypeScript interface %s",
			qualifiedName(other.obj), qualifiedName(obj), obj.Name())
	} else {
		m.byName[obj.Name()] = d
	}
	d.fields = m.fields(n.Underlying().(*types.Struct), obj.Name(), &d.refs)
	return d
}

// qualifiedName returns path.Name for obj.
func qualifiedName(obj *types.TypeName) string {
	return obj.Pkg().Path() + "." + obj.Name()
}

// jsonField is a field of a struct's JSON object, before the fields
// promoted from embedded structs are resolved.
type jsonField struct {
	v        *types.Var
	label    string // "field Owner.Go" for errors
	name     string
	tagged   bool
	depth    int
	optional bool
}

// fields returns the properties of the JSON object of st, following the
// rules of encoding/json. owner names st in errors; "" for an anonymous
// struct.
func (m *typeMapper) fields(st *types.Struct, owner string, refs *[]*structDecl) []tsField {
	var out []tsField
	for _, f := range m.dominant(m.collect(st, owner, 0)) {
		typ, err := m.ts(f.v.Type(), f.v.Pos(), refs)
		if err != nil {
			m.errs.add(f.v.Pos(), "%s has type %s: %v", f.label, m.typeString(f.v.Type()), err)
		}
		out = append(out, tsField{name: f.name, typ: typ, doc: m.docs[f.v.Pos()], optional: f.optional})
	}
	return out
}

// collect lists the fields of st in encoding order, with the fields of
// embedded structs in place, at depth+1.
func (m *typeMapper) collect(st *types.Struct, owner string, depth int) []jsonField {
	var out []jsonField
	for i := range st.NumFields() {
		v := st.Field(i)
		tag := reflect.StructTag(st.Tag(i)).Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		label := "field " + strings.TrimPrefix(owner+"."+v.Name(), ".")
		if hasOption(opts, "string") {
			m.errs.add(v.Pos(), "%s: the json \",string\" option is not supported yet", label)
			continue
		}
		if v.Embedded() && name == "" {
			if embedded, ok := m.embedded(v, label, depth); ok {
				out = append(out, embedded...)
				continue
			}
		}
		if !v.Exported() {
			continue
		}
		out = append(out, jsonField{
			v: v, label: label, name: cmp.Or(name, v.Name()), tagged: name != "", depth: depth,
			optional: hasOption(opts, "omitempty") || hasOption(opts, "omitzero"),
		})
	}
	return out
}

// embedded returns the fields an untagged embedded field promotes; ok is
// false when it is an ordinary field named after its type.
func (m *typeMapper) embedded(v *types.Var, label string, depth int) (fields []jsonField, ok bool) {
	t := types.Unalias(v.Type())
	if _, isPtr := t.(*types.Pointer); isPtr {
		m.errs.add(v.Pos(), "%s: embedded pointers are not supported yet", label)
		return nil, true
	}
	st, isStruct := t.Underlying().(*types.Struct)
	if !isStruct {
		return nil, false
	}
	owner := ""
	if n, isNamed := t.(*types.Named); isNamed {
		owner = n.Obj().Name()
	}
	return m.collect(st, owner, depth+1), true
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
		if len(best) == 0 || f.depth < fields[best[0]].depth {
			best = []int{i}
		} else if f.depth == fields[best[0]].depth {
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

// reachable returns the named structs of roots and those they reach,
// sorted by name.
func reachable(roots []*structDecl) []*structDecl {
	seen := map[*structDecl]bool{}
	var walk func([]*structDecl)
	walk = func(ds []*structDecl) {
		for _, d := range ds {
			if !seen[d] {
				seen[d] = true
				walk(d.refs)
			}
		}
	}
	walk(roots)
	out := make([]*structDecl, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *structDecl) int {
		return cmp.Or(cmp.Compare(a.name(), b.name()), cmp.Compare(qualifiedName(a.obj), qualifiedName(b.obj)))
	})
	return out
}
