package api

import (
	"fmt"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// jsonCodec is the Connect JSON codec with one change: a body that does
// not decode is refused with a message that quotes none of it. protojson's
// own errors quote the offending token, which may be a password the
// client failed to quote.
type jsonCodec struct{}

// JSONCodec returns the handler option that installs it.
func JSONCodec() connect.HandlerOption { return connect.WithCodec(jsonCodec{}) }

func (jsonCodec) Name() string { return "json" }

func (jsonCodec) Marshal(m any) ([]byte, error) {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a proto.Message", m)
	}
	return protojson.MarshalOptions{}.Marshal(msg)
}

func (jsonCodec) Unmarshal(b []byte, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a proto.Message", m)
	}
	if len(b) == 0 {
		b = []byte("{}")
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("the body of %s is not valid UTF-8", msg.ProtoReflect().Descriptor().FullName())
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, msg); err != nil {
		return fmt.Errorf("the body is not valid JSON for %s (check quoting, field names and value types)", msg.ProtoReflect().Descriptor().FullName())
	}
	return nil
}
