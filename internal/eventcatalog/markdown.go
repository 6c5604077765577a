package eventcatalog

import (
	"bytes"
	"fmt"
	"strings"
)

// Markdown renders the catalog as the Markdown of docs/events.md.
func Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Event types\n\n")
	b.WriteString("<!-- Generated from internal/eventcatalog by `make generate`; do not edit. -->\n\n")
	b.WriteString("Every event of an org's log is the `event` member of a leaf: a JSON object, RFC 8785 canonical, with the members " +
		"`type`, `actor`, `subject` (absent when empty), `data` (absent when the type has none) and `request_id` " +
		"(correlates the event with the server's logs; absent for events no request caused, and for custom events appended with an idempotency key).\n\n")
	b.WriteString("An actor is " + ActorMember.Form() + ", " + ActorToken.Form() + ", " + ActorAgent.Form() + ", " +
		ActorAnonymous.Form() + " (an unauthenticated caller) or " + ActorSystem.Form() + " (the server itself). " +
		"A time is a string holding an RFC 3339 time in UTC.\n\n")
	fmt.Fprintf(&b, "Integrations append events of their own: their type is `%s` followed by 1 to %d of `[A-Za-z0-9._-]`, "+
		"with the appending member or API token as actor, no subject and the data they give. Any other type names no event of the log.\n\n",
		CustomPrefix, MaxCustomNameLen)
	entries := Entries()
	b.WriteString("## Types\n\n| type | meaning |\n|---|---|\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", e.Type, anchor(e.Type), e.Meaning)
	}
	for _, e := range entries {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", e.Type, e.Meaning)
		var actors []string
		for _, a := range e.Actors {
			actors = append(actors, a.Form())
		}
		fmt.Fprintf(&b, "- actor: %s\n", strings.Join(actors, " or "))
		subject := e.Subject
		if subject == "" {
			subject = "none"
		}
		fmt.Fprintf(&b, "- subject: %s\n", subject)
		if len(e.Fields) == 0 {
			b.WriteString("- data: none\n")
			continue
		}
		b.WriteString("\n| field | type | meaning |\n|---|---|---|\n")
		for _, f := range e.Fields {
			kind := string(f.Kind)
			if f.Optional {
				kind += ", optional"
			}
			if f.Nullable {
				kind += ", or null"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Name, kind, f.Meaning)
		}
	}
	return b.Bytes()
}

// anchor is the fragment GitHub gives a heading: lower case, without
// characters other than letters, digits, '-' and '_'.
func anchor(heading string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '-', r == '_':
			return r
		}
		return -1
	}, strings.ToLower(heading))
}
