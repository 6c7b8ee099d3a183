package reverse

import (
	"encoding/json"
	"strconv"
)

// encodeDelivery returns the JSON of d, in a buffer sized for its
// messages up front.
func encodeDelivery(d *Delivery) []byte {
	n := 64 // the braces and the small members
	for _, m := range d.Messages {
		n += len(m.body) + 32 // {"seq":N,…}, and the comma
	}
	return appendDelivery(make([]byte, 0, n), d)
}

// appendDelivery appends d to b as json.Marshal encodes it, without
// encoding each message's call again: a call's body was encoded once,
// when it was published, and every page it reached shares it, so a
// delivery costs its page the few bytes around its messages. The rare
// parts (a reset, advice, a shutdown notice) go through encoding/json.
func appendDelivery(b []byte, d *Delivery) []byte {
	b = append(b, '{')
	first := true
	member := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
	}
	if len(d.Messages) > 0 {
		member("messages")
		b = append(b, '[')
		for i, m := range d.Messages {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"seq":`...)
			b = strconv.AppendUint(b, m.Seq, 10)
			b = append(b, ',')
			b = append(b, m.body...)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if d.More {
		member("more")
		b = append(b, "true"...)
	}
	for _, part := range []struct {
		name string
		v    any
		set  bool
	}{{"reset", d.Reset, d.Reset != nil}, {"advice", d.Advice, d.Advice != nil}, {"shutdown", d.Shutdown, d.Shutdown != nil}} {
		if !part.set {
			continue
		}
		v, err := json.Marshal(part.v)
		if err != nil { // plain structs of strings and numbers: it cannot fail
			continue
		}
		member(part.name)
		b = append(b, v...)
	}
	return append(b, '}')
}
