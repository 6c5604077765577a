package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/nuxari/nuxari/server"
)

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) that the manifests use; a field outside it
// fails the strict decoding.
type serviceMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Scheme        string `json:"scheme"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests holds the objects of deploy/k8s, decoded strictly.
type manifests struct {
	statefulSets    []*appsv1.StatefulSet
	services        []*corev1.Service
	secrets         map[string]*corev1.Secret
	configMaps      map[string]*corev1.ConfigMap
	serviceMonitors []*serviceMonitor
}

// strictJSON decodes data into v as the API server does: field names
// match case-sensitively (encoding/json would take
// readOnlyRootFileSystem for readOnlyRootFilesystem, and the API server
// would then drop it), and an unknown or duplicate field is an error.
func strictJSON(data []byte, v any) error {
	strict, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowUnknownFields, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// decodeManifests decodes every document of every file: as the
// Kubernetes API types (or serviceMonitor), with no unknown field, no
// duplicate key and no unknown kind.
func decodeManifests(files []string) (*manifests, error) {
	m := &manifests{secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			js, err := yaml.YAMLToJSONStrict(doc)
			if err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", f, i, err)
			}
			if string(bytes.TrimSpace(js)) == "null" {
				continue // comments only
			}
			var tm metav1.TypeMeta
			if err := json.Unmarshal(js, &tm); err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", f, i, err)
			}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 StatefulSet":
				o := &appsv1.StatefulSet{}
				m.statefulSets, obj = append(m.statefulSets, o), o
			case "v1 Service":
				o := &corev1.Service{}
				m.services, obj = append(m.services, o), o
			case "v1 Secret":
				obj = &corev1.Secret{}
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "monitoring.coreos.com/v1 ServiceMonitor":
				o := &serviceMonitor{}
				m.serviceMonitors, obj = append(m.serviceMonitors, o), o
			default:
				return nil, fmt.Errorf("%s, document %d: unexpected %s %s", f, i, tm.APIVersion, tm.Kind)
			}
			if err := strictJSON(js, obj); err != nil {
				return nil, fmt.Errorf("%s, document %d (%s): %w", f, i, tm.Kind, err)
			}
			switch o := obj.(type) {
			case *corev1.Secret:
				m.secrets[o.Name] = o
			case *corev1.ConfigMap:
				m.configMaps[o.Name] = o
			}
		}
	}
	return m, nil
}

// serverConsts returns the string constants of the server package: the
// names of the key files in the data directory among them.
func serverConsts(t *testing.T) map[string]string {
	files, err := filepath.Glob("../server/*.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	fset := token.NewFileSet()
	for _, fn := range files {
		if strings.HasSuffix(fn, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, fn, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[n.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	return consts
}

func TestKubernetes(t *testing.T) {
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	m, err := decodeManifests(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.statefulSets) != 1 || len(m.services) != 1 || len(m.serviceMonitors) != 1 {
		t.Fatalf("%d StatefulSets, %d Services, %d ServiceMonitors; want one each", len(m.statefulSets), len(m.services), len(m.serviceMonitors))
	}
	ss, svc, sm := m.statefulSets[0], m.services[0], m.serviceMonitors[0]
	spec := ss.Spec.Template.Spec

	// One replica: the ledger is one Pebble store on one volume.
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", ss.Spec.Replicas)
	}
	if ss.Spec.ServiceName != svc.Name {
		t.Errorf("serviceName %q, want the Service %q", ss.Spec.ServiceName, svc.Name)
	}
	podLabels := labels.Set(ss.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(ss.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("the selector %v does not match the pod's labels %v (%v)", ss.Spec.Selector, podLabels, err)
	}
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("the Service's selector %v does not match the pod's labels %v", svc.Spec.Selector, podLabels)
	}

	// The pod: not root, the runtime's seccomp profile, no API token.
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod: runAsNonRoot is not true")
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != UID || psc.RunAsGroup == nil || *psc.RunAsGroup != GID {
		t.Errorf("pod: runAsUser/runAsGroup not the image's %d:%d", UID, GID)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod: seccomp profile is not RuntimeDefault")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("pod: the service account token is mounted")
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	claims := map[string]bool{}
	for _, c := range ss.Spec.VolumeClaimTemplates {
		claims[c.Name] = true
		if !slices.Contains(c.Spec.AccessModes, corev1.ReadWriteOnce) {
			t.Errorf("volume claim %s: access modes %v", c.Name, c.Spec.AccessModes)
		}
		if q, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || q.IsZero() {
			t.Errorf("volume claim %s: no storage request", c.Name)
		}
	}
	var keyVolume string
	for name, v := range volumes {
		if v.Secret == nil {
			continue
		}
		s, ok := m.secrets[v.Secret.SecretName]
		if !ok {
			t.Errorf("volume %s: Secret %s is not in k8s/", name, v.Secret.SecretName)
			continue
		}
		keyVolume = name
		c := serverConsts(t)
		for _, k := range []string{"logKeyFile", "kekFile", "signingKeyFile"} {
			if c[k] == "" {
				t.Fatalf("no constant %s in server/", k)
			}
			if _, ok := s.StringData[c[k]]; !ok {
				if _, ok := s.Data[c[k]]; !ok {
					t.Errorf("Secret %s has no %s", s.Name, c[k])
				}
			}
		}
	}
	if keyVolume == "" {
		t.Fatal("no volume of the keys' Secret")
	}

	all := append(slices.Clone(spec.InitContainers), spec.Containers...)
	var srv *corev1.Container
	for i := range all {
		c := &all[i]
		checkContainer(t, c, psc, volumes, claims, keyVolume)
		if strings.HasPrefix(c.Image, "nuxari/") {
			im, ok := imageOf(c.Image)
			if !ok {
				t.Errorf("%s: image %s is not one `make image` builds", c.Name, c.Image)
			} else if im.Programs[0] == "nuxarid" {
				srv = c
			}
		} else if _, tag, ok := strings.Cut(c.Image, ":"); !ok || tag == "latest" {
			t.Errorf("%s: image %s has no pinned tag", c.Name, c.Image)
		}
	}
	if srv == nil {
		t.Fatal("no container runs nuxarid's image")
	}
	checkServerContainer(t, srv, m, svc)

	// The ServiceMonitor scrapes /metrics through the Service's port.
	msel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil || msel.Empty() || !msel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not match the Service's labels %v (%v)", sm.Spec.Selector, svc.Labels, err)
	}
	if len(sm.Spec.Endpoints) == 0 {
		t.Error("ServiceMonitor has no endpoint")
	}
	for _, e := range sm.Spec.Endpoints {
		if e.Path != "/metrics" {
			t.Errorf("ServiceMonitor path %q", e.Path)
		}
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
			t.Errorf("ServiceMonitor port %q is not a port of the Service", e.Port)
		}
	}
}

// checkContainer checks what every container must: the security
// settings, and mounts of volumes that exist, the keys' read-only.
func checkContainer(t *testing.T, c *corev1.Container, pod *corev1.PodSecurityContext, volumes map[string]corev1.Volume, claims map[string]bool, keyVolume string) {
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: no securityContext", c.Name)
		return
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged", c.Name)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) != 0 {
		t.Errorf("%s: capabilities %+v, want drop ALL and add none", c.Name, sc.Capabilities)
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: runAsNonRoot is not true", c.Name)
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		t.Errorf("%s: runs as root", c.Name)
	}
	if sp := cmpOr(sc.SeccompProfile, pod.SeccompProfile); sp == nil || sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccomp profile is not RuntimeDefault", c.Name)
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: no memory limit", c.Name)
	}
	for _, vm := range c.VolumeMounts {
		if _, ok := volumes[vm.Name]; !ok && !claims[vm.Name] {
			t.Errorf("%s: mounts %s, which is neither a volume nor a claim", c.Name, vm.Name)
		}
		if vm.Name == keyVolume && !vm.ReadOnly {
			t.Errorf("%s: mounts the keys' Secret writable", c.Name)
		}
	}
}

// checkServerContainer checks nuxarid's container: its settings are
// nuxarid's, its probes ask gRPC health about a service nuxarid
// registers, its state is on the claim and its keys read-only.
func checkServerContainer(t *testing.T, c *corev1.Container, m *manifests, svc *corev1.Service) {
	im, _ := imageOf(c.Image)
	if len(c.Command) != 0 {
		t.Errorf("%s: command %q replaces the image's entrypoint", c.Name, c.Command)
	}
	checkServerArgs(t, c.Name, c.Args)
	env := map[string]string{}
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
		env[e.Name] = e.Value
		if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil {
			s, ok := m.secrets[r.SecretKeyRef.Name]
			if !ok {
				t.Errorf("%s: %s from Secret %s, which is not in k8s/", c.Name, e.Name, r.SecretKeyRef.Name)
			} else if _, ok := s.StringData[r.SecretKeyRef.Key]; !ok {
				t.Errorf("%s: %s from key %s, which Secret %s lacks", c.Name, e.Name, r.SecretKeyRef.Key, s.Name)
			}
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Errorf("%s: envFrom other than a ConfigMap", c.Name)
			continue
		}
		cm, ok := m.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Errorf("%s: envFrom ConfigMap %s, which is not in k8s/", c.Name, ef.ConfigMapRef.Name)
			continue
		}
		for k := range cm.Data {
			if !strings.HasPrefix(k, "NUXARI_") {
				t.Errorf("ConfigMap %s: %s is not a NUXARI_ variable", cm.Name, k)
			}
			names = append(names, k)
		}
	}
	checkServerEnv(t, c.Name, names)

	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	data, ok := mounts[im.StateDir]
	if !ok || !slices.ContainsFunc(m.statefulSets[0].Spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return p.Name == data.Name }) {
		t.Errorf("%s: no volume claim mounted on the image's state directory %s", c.Name, im.StateDir)
	}
	if d := env["NUXARI_DATA_DIR"]; path.Dir(d) != im.StateDir {
		t.Errorf("%s: NUXARI_DATA_DIR %q, want a directory in the volume %s (the volume's root may hold lost+found)", c.Name, d, im.StateDir)
	}
	key := env["NUXARI_EVIDENCE_SIGNING_KEY"]
	if vm, ok := mounts[path.Dir(key)]; key == "" || !ok || !vm.ReadOnly {
		t.Errorf("%s: NUXARI_EVIDENCE_SIGNING_KEY %q is not on a read-only mount", c.Name, key)
	}
	// The keys linked into the data directory are where the server
	// mounts them, read-only.
	c2 := serverConsts(t)
	for _, init := range m.statefulSets[0].Spec.Template.Spec.InitContainers {
		script := strings.Join(init.Command, " ")
		if !strings.Contains(script, "ln -s") {
			continue
		}
		for _, k := range []string{c2["logKeyFile"], c2["kekFile"]} {
			if !strings.Contains(script, k) {
				t.Errorf("init container %s does not place %s", init.Name, k)
			}
		}
		words := strings.Fields(script)
		if !slices.Contains(words, "data="+env["NUXARI_DATA_DIR"]) || !slices.Contains(words, "keys="+path.Dir(key)) {
			t.Errorf("init container %s: its paths are not the server's data directory %s and key mount %s", init.Name, env["NUXARI_DATA_DIR"], path.Dir(key))
		}
	}

	// The probes: gRPC health on the container's port, about a service
	// that nuxarid registers with its health checker.
	var port int32
	for _, p := range c.Ports {
		if p.Name == svc.Spec.Ports[0].TargetPort.String() {
			port = p.ContainerPort
		}
	}
	if port == 0 {
		t.Errorf("%s: no port named %s, the Service's target", c.Name, svc.Spec.Ports[0].TargetPort.String())
	}
	if want := strings.TrimPrefix(im.Env[slices.IndexFunc(im.Env, func(e string) bool { return strings.HasPrefix(e, "NUXARI_ADDR=") })], "NUXARI_ADDR="); env["NUXARI_ADDR"] != want && env["NUXARI_ADDR"] != "" {
		t.Errorf("%s: NUXARI_ADDR %q, want the image's %q", c.Name, env["NUXARI_ADDR"], want)
	}
	if !strings.HasSuffix(env["NUXARI_ADDR"], ":"+strconv.Itoa(int(port))) {
		t.Errorf("%s: NUXARI_ADDR %q does not listen on the container port %d", c.Name, env["NUXARI_ADDR"], port)
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.GRPC == nil {
			t.Errorf("%s: no gRPC %s probe", c.Name, name)
			continue
		}
		if p.GRPC.Port != port {
			t.Errorf("%s: %s probe on port %d, want %d", c.Name, name, p.GRPC.Port, port)
		}
		if p.GRPC.Service == nil || !slices.Contains(server.APIServices, *p.GRPC.Service) {
			t.Errorf("%s: %s probe asks about %v, not a service nuxarid registers (%v)", c.Name, name, p.GRPC.Service, server.APIServices)
		}
	}
}

// cmpOr returns the first of its arguments that is not nil.
func cmpOr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// TestKubernetesStrict checks that the decoding refuses what it must: a
// misspelt field, a duplicate key, an unknown kind.
func TestKubernetesStrict(t *testing.T) {
	b, err := os.ReadFile("k8s/statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"unknown field": strings.Replace(string(b), "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", 1),
		"duplicate key": strings.Replace(string(b), "  replicas: 1\n", "  replicas: 1\n  replicas: 2\n", 1),
		"unknown kind":  strings.Replace(string(b), "kind: StatefulSet", "kind: StatefulSett", 1),
	} {
		if bad == string(b) {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		f := filepath.Join(t.TempDir(), "x.yaml")
		if err := os.WriteFile(f, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := decodeManifests([]string{f}); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
