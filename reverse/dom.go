package reverse

import "fmt"

// Runtime functions of the DOM helpers. Each applies to every element of
// the page matching a CSS selector, its first argument.
const (
	domSetText     = "parley.dom.setText"     // [selector, text]: textContent
	domSetValue    = "parley.dom.setValue"    // [selector, value]: the value of form fields
	domSetHTML     = "parley.dom.setHTML"     // [selector, html]: innerHTML
	domAddClass    = "parley.dom.addClass"    // [selector, [class…]]
	domRemoveClass = "parley.dom.removeClass" // [selector, [class…]]
	domRemove      = "parley.dom.remove"      // [selector]: removes the elements
	domAddRows     = "parley.dom.addRows"     // [selector, [{id, cells}…]]: appends rows
	domRemoveRows  = "parley.dom.removeRows"  // [selector]: removes every body row
)

// DOM changes the pages of a target from the server, in the manner of
// DWR's util.js. Each change travels as data, a reserved runtime function
// and its arguments, and the runtime applies it to every element matching
// a CSS selector; no script is ever sent. Text is set as text: only
// SetHTML parses markup. Changes reach pages in order with the target's
// other calls.
type DOM struct {
	t Target
}

// DOM returns the DOM helpers of the target.
func (t Target) DOM() DOM { return DOM{t: t} }

// Row is a table row for AddRows: one cell per string, each set as text.
type Row struct {
	// ID, if not empty, is the row element's id, so that the row can be
	// removed later with Remove("#" + ID).
	ID string `json:"id,omitempty"`
	// Cells are the texts of the row's cells, in order.
	Cells []string `json:"cells"`
}

// SetText sets the text of the matching elements (textContent): markup in
// text appears literally.
func (d DOM) SetText(selector, text string) error {
	return d.send(domSetText, selector, text)
}

// SetValue sets the value of the matching form fields (input, select,
// textarea), as a page's script would.
func (d DOM) SetValue(selector, value string) error {
	return d.send(domSetValue, selector, value)
}

// SetHTML replaces the content of the matching elements with html, parsed
// as HTML. Never pass it text from users: use SetText.
func (d DOM) SetHTML(selector, html string) error {
	return d.send(domSetHTML, selector, html)
}

// AddClass adds the CSS classes to the matching elements.
func (d DOM) AddClass(selector string, classes ...string) error {
	return d.send(domAddClass, selector, nonNil(classes))
}

// RemoveClass removes the CSS classes from the matching elements.
func (d DOM) RemoveClass(selector string, classes ...string) error {
	return d.send(domRemoveClass, selector, nonNil(classes))
}

// Remove removes the matching elements from the page.
func (d DOM) Remove(selector string) error {
	return d.send(domRemove, selector)
}

// AddRows appends rows to the matching tables (to their first tbody,
// made if missing) or tbody elements.
func (d DOM) AddRows(selector string, rows ...Row) error {
	return d.send(domAddRows, selector, nonNil(rows))
}

// RemoveRows removes every body row of the matching tables or tbody
// elements, leaving the head and foot of a table.
func (d DOM) RemoveRows(selector string) error {
	return d.send(domRemoveRows, selector)
}

func (d DOM) send(fn, selector string, args ...any) error {
	if selector == "" {
		return fmt.Errorf("reverse: %s with an empty selector", fn)
	}
	return d.t.call(fn, append([]any{selector}, args...))
}

// nonNil returns s, or an empty slice for nil, so it encodes as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
