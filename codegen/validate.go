package codegen

import (
	"go/types"
	"strconv"
	"strings"
	"unicode"

	"github.com/dave/jennifer/jen"
)

// The generated code checks each decoded argument of a service method
// that may hold an enum: every enum value in it, through structs,
// pointers, slices, arrays and maps, must be one of the enum's constants.
// Each enum gets an rpc.Enum set, and each named struct on the way a
// function checking a pointer to it; the rest is loops inline.

// enumDecl returns the declaration of t if it is an enum.
func (w *goWriter) enumDecl(t types.Type) *decl {
	if n, ok := types.Unalias(t).(*types.Named); ok {
		if d := w.m.mapper.byObj[n.Obj()]; d != nil && d.kind == declEnum {
			return d
		}
	}
	return nil
}

// decodesItself reports whether encoding/json leaves the decoding of t to
// t, whose values are then none of the generator's business.
func decodesItself(t types.Type) bool {
	if n, ok := t.(*types.Named); ok && (isNamed(n, "time", "Time") || isNamed(n, rpcPath, "Upload")) {
		return true
	}
	return hasMethod(t, "UnmarshalJSON") || hasMethod(t, "UnmarshalText")
}

// needsCheck reports whether a decoded value of type t may hold an enum.
func (w *goWriter) needsCheck(t types.Type) bool {
	return w.reachesEnum(t, map[*types.TypeName]bool{})
}

// reachesEnum reports whether t reaches an enum, not passing through the
// named types of seen.
func (w *goWriter) reachesEnum(t types.Type, seen map[*types.TypeName]bool) bool {
	t = types.Unalias(t)
	if w.enumDecl(t) != nil {
		return true
	}
	if decodesItself(t) {
		return false
	}
	if n, ok := t.(*types.Named); ok {
		if seen[n.Obj()] {
			return false
		}
		seen[n.Obj()] = true
	}
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		return w.reachesEnum(u.Elem(), seen)
	case *types.Slice:
		return w.reachesEnum(u.Elem(), seen)
	case *types.Array:
		return w.reachesEnum(u.Elem(), seen)
	case *types.Map:
		return w.enumDecl(u.Key()) != nil || w.reachesEnum(u.Elem(), seen)
	case *types.Struct:
		for _, f := range w.structFields(t) {
			if w.reachesEnum(f.v.Type(), seen) {
				return true
			}
		}
	}
	return false
}

// structFields returns the fields of the JSON object of the struct t.
func (w *goWriter) structFields(t types.Type) []jsonField {
	if n, ok := t.(*types.Named); ok {
		return w.m.mapper.byObj[n.Obj()].json
	}
	return w.m.mapper.dominant(w.m.mapper.collect(t.Underlying().(*types.Struct), ""))
}

// checks writes to g the statements that check x, a value of type t
// that needsCheck, and return wrap(err) when it fails: wrap gives the
// values of the return statement. depth numbers the loop variables.
func (w *goWriter) checks(g *jen.Group, t types.Type, x func() *jen.Statement, depth int, wrap func(jen.Code) jen.Code) {
	t = types.Unalias(t)
	fail := func(g *jen.Group, call jen.Code) {
		g.If(jen.Err().Op(":=").Add(call), jen.Err().Op("!=").Nil()).Block(jen.Return(wrap(jen.Err())))
	}
	if d := w.enumDecl(t); d != nil {
		fail(g, jen.Id(w.enumSet(d)).Dot("Check").Call(x()))
		return
	}
	if n, ok := t.(*types.Named); ok {
		if _, isStruct := n.Underlying().(*types.Struct); isStruct {
			fail(g, jen.Id(w.validator(n)).Call(jen.Op("&").Add(x())))
			return
		}
	}
	d := strconv.Itoa(depth)
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		elem := types.Unalias(u.Elem())
		g.If(x().Op("!=").Nil()).BlockFunc(func(g *jen.Group) {
			if n, ok := elem.(*types.Named); ok && w.enumDecl(n) == nil {
				if _, isStruct := n.Underlying().(*types.Struct); isStruct {
					fail(g, jen.Id(w.validator(n)).Call(x()))
					return
				}
			}
			if _, isStruct := elem.Underlying().(*types.Struct); isStruct {
				// Selectors go through the pointer.
				w.checks(g, elem, x, depth, wrap)
				return
			}
			deref := func() *jen.Statement { return jen.Op("*").Add(x()) }
			switch elem.Underlying().(type) {
			case *types.Slice, *types.Array:
				// An operand of an index expression.
				deref = func() *jen.Statement { return jen.Parens(jen.Op("*").Add(x())) }
			}
			w.checks(g, elem, deref, depth, wrap)
		})
	case *types.Slice, *types.Array:
		elem := u.(interface{ Elem() types.Type }).Elem()
		i := "i" + d
		g.For(jen.Id(i).Op(":=").Range().Add(x())).BlockFunc(func(g *jen.Group) {
			w.checks(g, elem, func() *jen.Statement { return x().Index(jen.Id(i)) }, depth+1, func(err jen.Code) jen.Code {
				return wrap(jen.Qual(rpcPath, "EnumAtIndex").Call(err, jen.Id(i)))
			})
		})
	case *types.Map:
		k, v := "k"+d, "v"+d
		keyEnum, elemCheck := w.enumDecl(u.Key()), w.needsCheck(u.Elem())
		vars := jen.List(jen.Id(k), jen.Id(v))
		if !elemCheck {
			vars = jen.Id(k)
		}
		g.For(vars.Op(":=").Range().Add(x())).BlockFunc(func(g *jen.Group) {
			if keyEnum != nil {
				w.checks(g, u.Key(), func() *jen.Statement { return jen.Id(k) }, depth+1, func(err jen.Code) jen.Code {
					return wrap(jen.Qual(rpcPath, "EnumAtKey").Call(err, jen.Id(k)))
				})
			}
			if elemCheck {
				w.checks(g, u.Elem(), func() *jen.Statement { return jen.Id(v) }, depth+1, func(err jen.Code) jen.Code {
					return wrap(jen.Qual(rpcPath, "EnumAtKey").Call(err, jen.Id(k)))
				})
			}
		})
	case *types.Struct:
		w.fieldChecks(g, t, x, depth, wrap)
	}
}

// fieldChecks writes the checks of the fields of x, a struct of type t,
// that needsCheck. A field promoted through embedded pointers is checked
// when they are not nil.
func (w *goWriter) fieldChecks(g *jen.Group, t types.Type, x func() *jen.Statement, depth int, wrap func(jen.Code) jen.Code) {
	for _, f := range w.structFields(t) {
		if !w.needsCheck(f.v.Type()) {
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
		w.checks(inner, f.v.Type(), sel, depth, func(err jen.Code) jen.Code {
			return wrap(jen.Qual(rpcPath, "EnumAtField").Call(err, jen.Lit(jsonName)))
		})
	}
}

// enumSet returns the name of the file's rpc.Enum of d, declaring it on
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

// validator returns the name of the file's function checking a *n,
// declaring it on first use.
func (w *goWriter) validator(n *types.Named) string {
	if name := w.names[n.Obj()]; name != "" {
		return name
	}
	name := w.prefix + "Check" + n.Obj().Name()
	w.names[n.Obj()] = name
	w.validators = append(w.validators, n)
	return name
}

// checkers writes the enum sets and validators the file's handlers use.
// Writing a validator may need more of them.
func (w *goWriter) checkers() {
	for i := 0; i < len(w.validators); i++ {
		n := w.validators[i]
		name := w.names[n.Obj()]
		w.f.Commentf("%s checks the enums of a decoded %s.", name, n.Obj().Name())
		w.f.Func().Id(name).Params(jen.Id("v").Op("*").Add(w.typ(n))).Error().BlockFunc(func(g *jen.Group) {
			w.fieldChecks(g, n, func() *jen.Statement { return jen.Id("v") }, 0, func(err jen.Code) jen.Code { return err })
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
		w.f.Var().Id(name).Op("=").Qual(rpcPath, "NewEnum").Call(values...)
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
