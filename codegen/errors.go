package codegen

import (
	"cmp"
	"fmt"
	"go/token"
	"slices"
	"strings"
)

// Error is a reason the generator refuses a declaration, at the line of
// the offending interface, method or field.
type Error struct {
	// Pos is where the problem is. Only Filename and Line are meaningful.
	Pos token.Position
	// Msg says what is wrong, without the position.
	Msg string
}

// Error returns "file:line: reason".
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Pos.Filename, e.Pos.Line, e.Msg)
}

// Errors is every Error found in a package, sorted by file, line and
// message. Generate returns one when it refuses anything.
type Errors []*Error

// Error returns the errors, one per line.
func (l Errors) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// errorList collects errors as the generator finds them.
type errorList struct {
	fset *token.FileSet
	errs Errors
}

// add records a refusal at pos.
func (l *errorList) add(pos token.Pos, format string, args ...any) {
	l.errs = append(l.errs, &Error{Pos: l.fset.Position(pos), Msg: fmt.Sprintf(format, args...)})
}

// err returns the sorted errors without repeats, or nil when there are
// none. A struct embedded in several places repeats its fields' errors.
func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sorted := slices.Clone(l.errs)
	slices.SortStableFunc(sorted, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.Filename, b.Pos.Filename),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	return slices.CompactFunc(sorted, func(a, b *Error) bool {
		return a.Pos.Filename == b.Pos.Filename && a.Pos.Line == b.Pos.Line && a.Msg == b.Msg
	})
}
