package api_test

import (
	"flag"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/nuxari/nuxari/governance/api"
	"github.com/nuxari/nuxari/internal/golden"
	"github.com/nuxari/nuxari/server"
)

var update = flag.Bool("update", false, "rewrite docs/rbac.md from the table")

// TestEveryMethodHasAnEntry walks every method of every service the server
// registers: default deny means a missing entry is a bug.
func TestEveryMethodHasAnEntry(t *testing.T) {
	seen := map[string]bool{}
	// Standard services whose descriptors their packages do not register.
	standard := map[string][]string{
		"grpc.health.v1.Health":                    {"Check", "Watch"},
		"grpc.reflection.v1.ServerReflection":      {"ServerReflectionInfo"},
		"grpc.reflection.v1alpha.ServerReflection": {"ServerReflectionInfo"},
	}
	for _, name := range server.Services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if methods, ok := standard[name]; ok && err != nil {
			for _, m := range methods {
				proc := "/" + name + "/" + m
				seen[proc] = true
				if _, ok := api.Procedures[proc]; !ok {
					t.Errorf("%s has no RBAC entry", proc)
				}
			}
			continue
		}
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			t.Fatalf("%s is not a service", name)
		}
		if sd.Methods().Len() == 0 {
			t.Errorf("service %s has no methods", name)
		}
		for i := 0; i < sd.Methods().Len(); i++ {
			proc := "/" + name + "/" + string(sd.Methods().Get(i).Name())
			seen[proc] = true
			if _, ok := api.Procedures[proc]; !ok {
				t.Errorf("%s has no RBAC entry", proc)
			}
		}
	}
	for proc := range api.Procedures {
		if !seen[proc] {
			t.Errorf("RBAC entry %s names no served method", proc)
		}
	}
}

func TestRBACDoc(t *testing.T) {
	golden.Check(t, "../../docs/rbac.md", api.RBACMarkdown(), *update)
}

func TestRBACTypeScript(t *testing.T) {
	golden.Check(t, "../../web/src/rbac.gen.ts", api.RBACTypeScript(), *update)
}
