// Package eventcatalog names every type of event the service appends to
// an org's log, and documents each: what it means, who its actor is,
// what its subject is and the members of its data.
//
// An event is the "event" member of a leaf (see docs/proof-bundle.md): a
// JSON object, RFC 8785 canonical, with the members
//
//	type        one of the types below, or a custom type
//	actor       who caused it (see [Actor])
//	subject     what it is about; absent when empty
//	data        the type's fields; absent when the type has none
//	request_id  correlates the event with the server's logs; absent for
//	            events no request caused and for custom events appended
//	            with an idempotency key
//
// Types are lower-case and dotted. Integrations append events of their own
// in the "custom." namespace ([IsCustom]); those are a namespace, not
// entries. [Known] says whether a type is either: a filter or an export
// scope naming any other type can select no event. The catalog is rendered into docs/events.md by
// [Markdown].
//
// The package depends on the standard library only, so that the domain
// and the CLI can both use it.
package eventcatalog

import (
	"slices"
	"strings"
)

// CustomPrefix begins the type of every event an integration appends.
const CustomPrefix = "custom."

// MaxCustomNameLen bounds the name after [CustomPrefix].
const MaxCustomNameLen = 120

// Actors that are not principals.
const (
	// Anonymous is the actor of an event an unauthenticated caller
	// causes (a failed login, a refused enrolment).
	Anonymous = "anonymous"
	// System is the actor of an event the server causes by itself (a
	// sweep, the end of a background export).
	System = "system"
)

// Actor is a kind of actor an event may name.
type Actor string

// The kinds of actor.
const (
	// ActorMember is a member of the org, named by user ID.
	ActorMember Actor = "member"
	// ActorToken is an API token of the org, named "token:<ID>".
	ActorToken Actor = "token"
	// ActorAgent is an enrolled agent of the org, named "agent:<ID>".
	ActorAgent Actor = "agent"
	// ActorAnonymous is an unauthenticated caller, named [Anonymous].
	ActorAnonymous Actor = Anonymous
	// ActorSystem is the server itself, named [System].
	ActorSystem Actor = System
)

// Form returns how an event names an actor of kind a.
func (a Actor) Form() string {
	switch a {
	case ActorMember:
		return "a member (their user ID)"
	case ActorToken:
		return "an API token (`token:<ID>`)"
	case ActorAgent:
		return "an agent (`agent:<ID>`)"
	case ActorAnonymous, ActorSystem:
		return "`" + string(a) + "`"
	}
	return string(a)
}

// Kind is the JSON type of a data field.
type Kind string

// The kinds of data field.
const (
	String  Kind = "string"
	Integer Kind = "integer"
	Boolean Kind = "boolean"
	// Time is a string holding an RFC 3339 time in UTC, with as many
	// fractional digits as it needs.
	Time    Kind = "time"
	Object  Kind = "object"
	Strings Kind = "array of string"
	// Integers is an array of integers.
	Integers Kind = "array of integer"
	// Objects is an array of objects, whose members the field's meaning
	// describes.
	Objects Kind = "array of object"
)

// Field is one member of an event's data. A member of a nested object is
// named by its path, "owner.user_id"; the object itself has its own
// Field of kind [Object].
type Field struct {
	Name string
	Kind Kind
	// Optional is set when some events of the type leave the member out.
	Optional bool
	// Nullable is set when the member may be JSON null.
	Nullable bool
	Meaning  string
}

// Entry documents one event type.
type Entry struct {
	Type string
	// Meaning is one sentence.
	Meaning string
	// Actors are the kinds of actor an event of the type may name.
	Actors []Actor
	// Subject says what the subject is, or is empty when the event has
	// none.
	Subject string
	// Fields are the members of the event's data, in the order the
	// documentation lists them; none when the event has no data.
	Fields []Field
}

// Entries returns the catalog, sorted by type. The caller owns the result.
func Entries() []Entry {
	out := make([]Entry, len(catalog))
	for i, e := range catalog {
		e.Actors = slices.Clone(e.Actors)
		e.Fields = slices.Clone(e.Fields)
		out[i] = e
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// Lookup returns the entry of type t.
func Lookup(t string) (Entry, bool) {
	for _, e := range catalog {
		if e.Type == t {
			e.Actors = slices.Clone(e.Actors)
			e.Fields = slices.Clone(e.Fields)
			return e, true
		}
	}
	return Entry{}, false
}

// Known reports whether t is a catalogued type or a custom one: a type an
// event of the log can have. Types compare exactly: no case folding, no
// trimming.
func Known(t string) bool {
	_, ok := Lookup(t)
	return ok || IsCustom(t)
}

// IsCustom reports whether t is a valid custom type: [CustomPrefix]
// followed by 1 to [MaxCustomNameLen] of [A-Za-z0-9._-]. An integration's
// event MUST have such a type.
func IsCustom(t string) bool {
	name, ok := strings.CutPrefix(t, CustomPrefix)
	if !ok || name == "" || len(name) > MaxCustomNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
