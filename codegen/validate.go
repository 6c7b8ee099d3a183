package codegen

import (
	"go/types"
	"strconv"
	"strings"
	"unicode"

	"github.com/dave/jennifer/jen"
)

// The generated code checks each decoded argument of a service method
// that may hold an enum or a wide integer: every enum value in it, through
// structs, pointers, slices, arrays and maps, must be one of the enum's
// constants, and every integer of a type wider than 53 bits must be
// within ±(2^53−1). It checks results for wide integers too, and walks
// the values of interface types in them at run time. Each enum gets an
// rpcgen.Enum set, and each named struct on the way a function checking a
// pointer to it; the rest is loops inline.

// checkMode says what a generated check looks for.
type checkMode struct {
	enums bool // enum values outside their constants
	ints  bool // integers beyond ±(2^53−1)
	// dynamic is whether the values of interface types are walked at run
	// time, as in results; decoded arguments hold only JSON's own types.
	dynamic bool
}

var (
	argChecks    = checkMode{enums: true, ints: true}
	resultChecks = checkMode{ints: true, dynamic: true}
)

// enumDecl returns the declaration of t if it is an enum, not flags.
func (w *goWriter) enumDecl(t types.Type) *decl {
	if n, ok := types.Unalias(t).(*types.Named); ok {
		if d := w.m.mapper.byObj[n.Obj()]; d != nil && d.kind == declEnum && !d.flags {
			return d
		}
	}
	return nil
}

// isWide reports whether t is an integer type wider than 53 bits.
func isWide(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	if !ok {
		return false
	}
	switch b.Kind() {
	case types.Int, types.Int64, types.Uint, types.Uint64, types.Uintptr:
		return true
	}
	return false
}

// opaque reports whether encoding/json leaves t to itself, in the
// direction md checks, so that its values are none of the generator's
// business.
func opaque(t types.Type, md checkMode) bool {
	if n, ok := t.(*types.Named); ok && (isNamed(n, "time", "Time") || isNamed(n, rpcPath, "Upload") || isNamed(n, rpcPath, "Download")) {
		return true
	}
	if md.dynamic {
		return hasMethod(t, "MarshalJSON") || hasMethod(t, "MarshalText")
	}
	return hasMethod(t, "UnmarshalJSON") || hasMethod(t, "UnmarshalText")
}

// needsCheck reports whether a value of type t may hold what md checks.
func (w *goWriter) needsCheck(t types.Type, md checkMode) bool {
	return w.reaches(t, md, map[*types.TypeName]bool{})
}

// keyCheck reports whether the keys of a map of key type k need checks.
func (w *goWriter) keyCheck(k types.Type, md checkMode) bool {
	k = types.Unalias(k)
	if md.enums && w.enumDecl(k) != nil {
		return true
	}
	return md.ints && isWide(k) && !hasMethod(k, "MarshalText") && !hasMethod(k, "UnmarshalText")
}

// reaches reports whether t may hold what md checks, not passing through
// the named types of seen.
func (w *goWriter) reaches(t types.Type, md checkMode, seen map[*types.TypeName]bool) bool {
	t = types.Unalias(t)
	if md.enums && w.enumDecl(t) != nil {
		return true
	}
	if opaque(t, md) {
		return false
	}
	if md.ints && isWide(t) {
		return true
	}
	if n, ok := t.(*types.Named); ok {
		if seen[n.Obj()] {
			return false
		}
		seen[n.Obj()] = true
	}
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		return w.reaches(u.Elem(), md, seen)
	case *types.Slice:
		return w.reaches(u.Elem(), md, seen)
	case *types.Array:
		return w.reaches(u.Elem(), md, seen)
	case *types.Map:
		return w.keyCheck(u.Key(), md) || w.reaches(u.Elem(), md, seen)
	case *types.Interface:
		return md.dynamic
	case *types.Struct:
		for _, f := range w.structFields(t) {
			if w.reaches(f.v.Type(), fieldMode(f, md), seen) {
				return true
			}
		}
	}
	return false
}

// fieldMode returns what to check in the field f: a field with the json
// ",string" option travels as text, so its integers are not checked.
func fieldMode(f jsonField, md checkMode) checkMode {
	if f.quoted {
		md.ints = false
	}
	return md
}

// structFields returns the fields of the JSON object of the struct t.
func (w *goWriter) structFields(t types.Type) []jsonField {
	if n, ok := t.(*types.Named); ok {
		return w.m.mapper.byObj[n.Obj()].json
	}
	return w.m.mapper.dominant(w.m.mapper.collect(t.Underlying().(*types.Struct), ""))
}

// checks writes to g the statements that check x, a value of type t
// that needsCheck md, and return wrap(err) when it fails: wrap gives the
// values of the return statement. depth numbers the loop variables.
func (w *goWriter) checks(g *jen.Group, t types.Type, x func() *jen.Statement, depth int, wrap func(jen.Code) jen.Code, md checkMode) {
	t = types.Unalias(t)
	fail := func(g *jen.Group, call jen.Code) {
		g.If(jen.Err().Op(":=").Add(call), jen.Err().Op("!=").Nil()).Block(jen.Return(wrap(jen.Err())))
	}
	if d := w.enumDecl(t); d != nil && md.enums {
		fail(g, jen.Id(w.enumSet(d)).Dot("Check").Call(x()))
		return
	}
	if isWide(t) {
		fail(g, jen.Qual(jsruntimePath, "CheckInteger").Call(x()))
		return
	}
	if n, ok := t.(*types.Named); ok {
		if _, isStruct := n.Underlying().(*types.Struct); isStruct {
			fail(g, jen.Id(w.validator(n, md)).Call(jen.Op("&").Add(x())))
			return
		}
	}
	d := strconv.Itoa(depth)
	switch u := t.Underlying().(type) {
	case *types.Interface:
		fail(g, jen.Qual(jsruntimePath, "CheckIntegers").Call(x()))
	case *types.Pointer:
		elem := types.Unalias(u.Elem())
		g.If(x().Op("!=").Nil()).BlockFunc(func(g *jen.Group) {
			if n, ok := elem.(*types.Named); ok {
				if _, isStruct := n.Underlying().(*types.Struct); isStruct {
					fail(g, jen.Id(w.validator(n, md)).Call(x()))
					return
				}
			}
			if _, isStruct := elem.Underlying().(*types.Struct); isStruct {
				// Selectors go through the pointer.
				w.checks(g, elem, x, depth, wrap, md)
				return
			}
			deref := func() *jen.Statement { return jen.Op("*").Add(x()) }
			switch elem.Underlying().(type) {
			case *types.Slice, *types.Array:
				// An operand of an index expression.
				deref = func() *jen.Statement { return jen.Parens(jen.Op("*").Add(x())) }
			}
			w.checks(g, elem, deref, depth, wrap, md)
		})
	case *types.Slice, *types.Array:
		elem := u.(interface{ Elem() types.Type }).Elem()
		i := "i" + d
		g.For(jen.Id(i).Op(":=").Range().Add(x())).BlockFunc(func(g *jen.Group) {
			w.checks(g, elem, func() *jen.Statement { return x().Index(jen.Id(i)) }, depth+1, func(err jen.Code) jen.Code {
				return wrap(jen.Qual(rpcgenPath, "AtIndex").Call(err, jen.Id(i)))
			}, md)
		})
	case *types.Map:
		k, v := "k"+d, "v"+d
		keyCheck, elemCheck := w.keyCheck(u.Key(), md), w.needsCheck(u.Elem(), md)
		vars := jen.List(jen.Id(k), jen.Id(v))
		if !elemCheck {
			vars = jen.Id(k)
		}
		g.For(vars.Op(":=").Range().Add(x())).BlockFunc(func(g *jen.Group) {
			if keyCheck {
				w.checks(g, u.Key(), func() *jen.Statement { return jen.Id(k) }, depth+1, func(err jen.Code) jen.Code {
					return wrap(jen.Qual(rpcgenPath, "AtKey").Call(err, jen.Id(k)))
				}, md)
			}
			if elemCheck {
				w.checks(g, u.Elem(), func() *jen.Statement { return jen.Id(v) }, depth+1, func(err jen.Code) jen.Code {
					return wrap(jen.Qual(rpcgenPath, "AtKey").Call(err, jen.Id(k)))
				}, md)
			}
		})
	case *types.Struct:
		w.fieldChecks(g, t, x, depth, wrap, md)
	}
}

// fieldChecks writes the checks of the fields of x, a struct of type t,
// that needsCheck md. A field promoted through embedded pointers is
// checked when they are not nil. An enum field the page may leave out
// (omitempty, omitzero) may hold the zero value.
func (w *goWriter) fieldChecks(g *jen.Group, t types.Type, x func() *jen.Statement, depth int, wrap func(jen.Code) jen.Code, md checkMode) {
	for _, f := range w.structFields(t) {
		fmd := fieldMode(f, md)
		if !w.needsCheck(f.v.Type(), fmd) {
			continue
		}
		inner := g
		sel := x
		for _, step := range f.path {
			prev, name := sel, step.Name()
			if step.Exported() || step.Pkg() == nil || step.Pkg().Path() == w.pkgPath {
				sel = func() *jen.Statement { return prev().Dot(name) }
			}
			if _, isPtr := types.Unalias(step.Type()).(*types.Pointer); isPtr && step.Embedded() && step != f.v {
				cond := sel()
				var block *jen.Group
				inner.If(cond.Op("!=").Nil()).BlockFunc(func(g *jen.Group) { block = g })
				inner = block
			}
		}
		jsonName := f.name
		wrapField := func(err jen.Code) jen.Code {
			return wrap(jen.Qual(rpcgenPath, "AtField").Call(err, jen.Lit(jsonName)))
		}
		if d := w.enumDecl(f.v.Type()); d != nil && fmd.enums && f.optional {
			call := jen.Id(w.enumSet(d)).Dot("CheckOptional").Call(sel())
			inner.If(jen.Err().Op(":=").Add(call), jen.Err().Op("!=").Nil()).Block(jen.Return(wrapField(jen.Err())))
			continue
		}
		w.checks(inner, f.v.Type(), sel, depth, wrapField, fmd)
	}
}

// enumSet returns the name of the file's rpcgen.Enum of d, declaring it on
// first use.
func (w *goWriter) enumSet(d *decl) string {
	if name := w.names[d.obj]; name != "" {
		return name
	}
	name := w.prefix + "Enum" + d.name()
	w.names[d.obj] = name
	w.enums = append(w.enums, d)
	return name
}

// validatorKey names a function checking a named struct n for md.
type validatorKey struct {
	n  *types.Named
	md checkMode
}

// validator returns the name of the file's function checking a *n for
// md, declaring it on first use.
func (w *goWriter) validator(n *types.Named, md checkMode) string {
	key := validatorKey{n, md}
	if name := w.validatorNames[key]; name != "" {
		return name
	}
	name := w.prefix + "Check" + n.Obj().Name()
	if md.dynamic {
		name += "Result"
	}
	w.validatorNames[key] = name
	w.validators = append(w.validators, key)
	return name
}

// checkers writes the enum sets and validators the file's handlers use.
// Writing a validator may need more of them.
func (w *goWriter) checkers() {
	for i := 0; i < len(w.validators); i++ {
		key, n := w.validators[i], w.validators[i].n
		name := w.validatorNames[key]
		if key.md.dynamic {
			w.f.Commentf("%s checks the integers of a %s result.", name, n.Obj().Name())
		} else {
			w.f.Commentf("%s checks the enums and integers of a decoded %s.", name, n.Obj().Name())
		}
		w.f.Func().Id(name).Params(jen.Id("v").Op("*").Add(w.typ(n))).Error().BlockFunc(func(g *jen.Group) {
			w.fieldChecks(g, n, func() *jen.Statement { return jen.Id("v") }, 0, func(err jen.Code) jen.Code { return err }, key.md)
			g.Return(jen.Nil())
		})
	}
	for _, d := range w.enums {
		values := []jen.Code{jen.Lit(d.name())}
		for _, v := range d.values {
			values = append(values, w.constRef(v.obj))
		}
		name := w.names[d.obj]
		w.f.Commentf("%s holds the values of %s.", name, d.name())
		w.f.Var().Id(name).Op("=").Qual(rpcgenPath, "NewEnum").Call(values...)
	}
}

// constRef returns a reference to the constant c from the generated
// package.
func (w *goWriter) constRef(c *types.Const) jen.Code {
	if c.Pkg().Path() == w.pkgPath {
		return jen.Id(c.Name())
	}
	w.f.ImportName(c.Pkg().Path(), c.Pkg().Name())
	return jen.Qual(c.Pkg().Path(), c.Name())
}

// upperCamel turns a file name into a Go identifier part: letters and
// digits, each run after another character starting with a capital.
func upperCamel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
		}
		b.WriteRune(r)
		up = false
	}
	return b.String()
}
